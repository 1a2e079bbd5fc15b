--- Suggestions in the buffer, and acceptance reported to the server (`finch.accept`).
---
--- Ghost text (the default): Neovim 0.12 and later draw it (`vim.lsp.inline_completion`,
--- finch.native); on 0.11 finch requests and draws it itself (finch.ghost). Accepting
--- inserts the text and runs the item's command, `finch.accept`.
--- The menu (`display = "menu"`, for 0.11): the server answers `textDocument/completion`,
--- shown in the completion menu through `vim.lsp.completion` with autotrigger. Neovim
--- inserts only a menu item's `word`, so a multi-line suggestion is completed here on
--- CompleteDone, and `finch.accept` is sent after that, once the whole text is in the buffer.

local config = require("finch.config")
local ghost = require("finch.ghost")
local keys = require("finch.keys")
local native = require("finch.native")

local M = {}

local ACCEPT = "finch.accept"

--- True when this Neovim shows LSP inline completions (0.12 and later).
--- @return boolean
function M.has_inline()
  return native.available()
end

--- True for a completion item issued by finch: it carries a suggestion id and `finch.accept`.
--- @param item lsp.CompletionItem
--- @return boolean
function M.is_suggestion(item)
  return type(item.data) == "table" and item.data.suggestionId ~= nil
    and type(item.command) == "table" and item.command.command == ACCEPT
end

--- The full text a completion item inserts.
--- @param item lsp.CompletionItem
--- @return string
function M.item_text(item)
  return (item.textEdit and item.textEdit.newText) or item.insertText or item.label
end

--- The complete-item (see |complete-items|) for a finch suggestion: its first line is the
--- `word` Neovim inserts, the popup shows all of it. The command is kept aside in
--- `user_data.finch`, so the built-in CompleteDone handler leaves it to `on_complete_done`.
--- @param item lsp.CompletionItem
--- @param client_id integer?
--- @return table
function M.menu_entry(item, client_id)
  local text = M.item_text(item)
  local first_line = vim.split(text, "\n", { plain = true })[1]
  local without_command = vim.deepcopy(item)
  without_command.command = nil
  return {
    word = first_line,
    abbr = first_line ~= text and (item.label .. " …") or item.label,
    menu = "[finch]",
    info = text,
    user_data = {
      nvim = { lsp = { completion_item = without_command, client_id = client_id } },
      finch = { command = item.command },
    },
  }
end

--- `convert` for `vim.lsp.completion.enable`: it sees every server's items in the buffer,
--- so only finch's are changed.
--- @param item lsp.CompletionItem
--- @return table
local function convert(item)
  if not M.is_suggestion(item) then
    return {}
  end
  local client = require("finch.client").get(0)
  return M.menu_entry(item, client and client.id)
end

--- The finch item behind an accepted complete-item, with its command, and the client id.
--- Also finds items shown without finch's `convert` (another `vim.lsp.completion.enable`
--- call made the buffer's menu first).
--- @param completed_item table v:completed_item
--- @return lsp.CompletionItem?, integer?
function M.accepted_item(completed_item)
  local user_data = type(completed_item) == "table" and completed_item.user_data
  local item = type(user_data) == "table" and vim.tbl_get(user_data, "nvim", "lsp", "completion_item")
  if type(item) ~= "table" then
    return nil
  end
  local command = vim.tbl_get(user_data, "finch", "command") or item.command
  item = vim.tbl_extend("force", item, { command = command })
  if not M.is_suggestion(item) then
    return nil
  end
  return item, vim.tbl_get(user_data, "nvim", "lsp", "client_id")
end

--- Replace the `word` just inserted before the cursor with the whole `text`; cursor after it.
--- @param bufnr integer
--- @param word string
--- @param text string
local function complete_inserted_text(bufnr, word, text)
  local row, col = unpack(vim.api.nvim_win_get_cursor(0))
  local start = col - #word
  local line = vim.api.nvim_buf_get_lines(bufnr, row - 1, row, true)[1]
  if text == word or start < 0 or line:sub(start + 1, col) ~= word then
    return
  end
  local lines = vim.split(text, "\n", { plain = true })
  vim.api.nvim_buf_set_text(bufnr, row - 1, start, row - 1, col, lines)
  local last_col = #lines == 1 and start + #lines[1] or #lines[#lines]
  vim.api.nvim_win_set_cursor(0, { row + #lines - 1, last_col })
end

--- Run the item's `finch.accept` so the server records the acceptance and tracks the text.
--- @param command lsp.Command
--- @param client_id integer?
--- @param bufnr integer
local function run_accept(command, client_id, bufnr)
  local client = client_id and vim.lsp.get_client_by_id(client_id) or require("finch.client").get(bufnr)
  if client then
    client:exec_cmd(command, { bufnr = bufnr })
  end
end

--- Finish accepting a finch menu item: the whole text in the buffer, then `finch.accept`
--- (the request sends the pending didChange first, so the server sees the inserted text).
--- @param completed_item table v:completed_item
--- @param bufnr integer
function M.on_complete_done(completed_item, bufnr)
  local item, client_id = M.accepted_item(completed_item)
  if not item then
    return
  end
  complete_inserted_text(bufnr, completed_item.word or "", M.item_text(item))
  run_accept(item.command, client_id, bufnr)
end

--- @param bufnr integer
--- @param options finch.Options
local function map_menu_accept(bufnr, options)
  if not options.accept_key then
    return
  end
  vim.keymap.set("i", options.accept_key, function()
    return vim.fn.pumvisible() == 1 and "<C-y>" or options.accept_key
  end, { buffer = bufnr, expr = true, desc = "finch: accept the selected completion" })
end

--- Neovim 0.11: completion menu with autotrigger, and acceptance on CompleteDone.
--- @param client vim.lsp.Client
--- @param bufnr integer
--- @param options finch.Options
function M.enable_menu(client, bufnr, options)
  vim.lsp.completion.enable(true, client.id, bufnr, { autotrigger = true, convert = convert })
  if options.completeopt then
    vim.bo[bufnr].completeopt = options.completeopt
  end
  vim.api.nvim_create_autocmd("CompleteDone", {
    group = vim.api.nvim_create_augroup(("finch.completion.%d"):format(bufnr), { clear = true }),
    buffer = bufnr,
    desc = "finch: insert the whole suggestion and record its acceptance",
    callback = function()
      if vim.v.event.reason == "accept" then
        M.on_complete_done(vim.v.completed_item, bufnr)
      end
    end,
  })
  map_menu_accept(bufnr, options)
end

--- How each display shows and accepts suggestions; the menu has no ghost text to act on.
--- @type table<string, finch.GhostBackend>
local BACKENDS = {
  native = {
    accept = native.accept,
    accept_word = function(bufnr) return native.accept_part(bufnr, "word") end,
    accept_line = function(bufnr) return native.accept_part(bufnr, "line") end,
    dismiss = native.dismiss,
  },
  ghost = {
    accept = function(bufnr) return ghost.accept(bufnr) end,
    accept_word = function(bufnr) return ghost.accept(bufnr, "word") end,
    accept_line = function(bufnr) return ghost.accept(bufnr, "line") end,
    dismiss = ghost.dismiss,
    suggest = ghost.suggest,
  },
}

--- The display `options` ask for on this Neovim: "native" (0.12+), "ghost" (finch draws
--- it, 0.11) or "menu".
--- @param options finch.Options
--- @return "native"|"ghost"|"menu"
function M.display(options)
  if options.display == "menu" then
    return "menu"
  end
  return M.has_inline() and "native" or "ghost"
end

--- What accepts, dismisses or asks in `bufnr`; nil for the menu or a buffer finch is not in.
--- @param bufnr integer
--- @return finch.GhostBackend?
function M.backend(bufnr)
  local ok, display = pcall(function() return vim.b[bufnr].finch_display end)
  return ok and BACKENDS[display] or nil
end

--- Show finch's suggestions in `bufnr`, the way `options` and this Neovim allow.
--- @param client vim.lsp.Client
--- @param bufnr integer
--- @param options finch.Options
function M.attach(client, bufnr, options)
  local display = M.display(options)
  vim.b[bufnr].finch_display = display
  if display == "menu" then
    M.enable_menu(client, bufnr, options)
    return
  elseif display == "native" then
    native.enable(bufnr)
  else
    ghost.attach(client, bufnr, options)
  end
  keys.map(bufnr, options, BACKENDS[display])
end

--- Attach to every buffer the finch client attaches to.
--- @param options finch.Options
function M.setup(options)
  vim.api.nvim_create_autocmd("LspAttach", {
    group = vim.api.nvim_create_augroup("finch.attach", { clear = true }),
    desc = "finch: show suggestions in this buffer",
    callback = function(args)
      local client = vim.lsp.get_client_by_id(args.data.client_id)
      if client and client.name == config.NAME then
        M.attach(client, args.buf, options)
      end
    end,
  })
end

return M
