--- Ghost text on Neovim 0.12 and later, through `vim.lsp.inline_completion`.
---
--- Neovim requests, draws and clears the suggestion itself. finch enables it for the buffer
--- (`enable(true, {bufnr = bufnr})`: the filter takes a buffer or a client, not both) and
--- maps the keys: accept (Neovim inserts the text and runs `finch.accept`), dismiss, and
--- partial accept through `get({on_accept = ...})`.

local text_util = require("finch.ghost_text")

local M = {}

--- True when this Neovim shows LSP inline completions (0.12 and later).
--- @return boolean
function M.available()
  return type(vim.lsp.inline_completion) == "table" and type(vim.lsp.inline_completion.enable) == "function"
end

--- Turn on Neovim's inline completion in `bufnr`.
--- @param bufnr integer
function M.enable(bufnr)
  vim.lsp.inline_completion.enable(true, { bufnr = bufnr })
end

--- Accept the suggestion shown in `bufnr`; false when there was none.
--- @param bufnr integer
--- @return boolean
function M.accept(bufnr)
  return vim.lsp.inline_completion.get({ bufnr = bufnr }) == true
end

--- Clear the suggestion shown: "accept" it with a handler that inserts nothing.
--- @param bufnr integer
--- @return boolean
function M.dismiss(bufnr)
  return vim.lsp.inline_completion.get({ bufnr = bufnr, on_accept = function() end }) == true
end

--- Insert the next word or line of `item` at the cursor; run its command when that was all.
--- @param bufnr integer
--- @param item table vim.lsp.inline_completion.Item {insert_text, range?, command?, client_id}
--- @param part "word"|"line"
function M.insert_part(bufnr, item, part)
  local text = type(item.insert_text) == "table" and item.insert_text.value or item.insert_text
  if type(text) ~= "string" or vim.api.nvim_get_current_buf() ~= bufnr then
    return
  end
  local row, col = unpack(vim.api.nvim_win_get_cursor(0))
  row = row - 1
  local start = item.range and item.range.start
  if start and start.row ~= row then
    return
  end
  local line = vim.api.nvim_buf_get_lines(bufnr, row, row + 1, true)[1]
  local rest = text_util.remaining(text, line, start and start.col or col, col)
  if not rest or rest == "" then
    return
  end
  local piece = text_util.piece(rest, part)
  local lines = vim.split(piece, "\n", { plain = true })
  vim.api.nvim_buf_set_text(bufnr, row, col, row, col, lines)
  local end_row, end_col = text_util.end_position(row, col, lines)
  vim.api.nvim_win_set_cursor(0, { end_row + 1, end_col })
  local client = piece == rest and item.command and vim.lsp.get_client_by_id(item.client_id)
  if client then
    client:exec_cmd(item.command, { bufnr = bufnr })
  end
end

--- Accept the next word or line of the suggestion shown; false when there was none.
--- @param bufnr integer
--- @param part "word"|"line"
--- @return boolean
function M.accept_part(bufnr, part)
  return vim.lsp.inline_completion.get({
    bufnr = bufnr,
    on_accept = function(item) M.insert_part(bufnr, item, part) end,
  }) == true
end

return M
