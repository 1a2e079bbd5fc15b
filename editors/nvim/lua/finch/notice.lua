--- Messages to the user that never stop their typing with a hit-enter prompt.
---
--- With Neovim's own `vim.notify` a message wider than the command line (or one with a line
--- break) waits for Enter. Here such a message is written with `:echomsg` and 'shortmess' "T":
--- the command line shows it shortened in the middle, and `:messages` keeps it whole. A
--- `vim.notify` replaced by a plugin (nvim-notify, noice, fidget, ...) gets the whole text.

local M = {}

--- The highlight of each level on the command line.
local HIGHLIGHT = {
  [vim.log.levels.ERROR] = "ErrorMsg",
  [vim.log.levels.WARN] = "WarningMsg",
}

--- window/showMessage's MessageType -> vim.log.levels.
M.MESSAGE_LEVELS = {
  [1] = vim.log.levels.ERROR,
  [2] = vim.log.levels.WARN,
  [3] = vim.log.levels.INFO,
  [4] = vim.log.levels.DEBUG,
}

--- True while `vim.notify` is Neovim's own (it echoes, and so can prompt).
--- @return boolean
function M.is_builtin_notify()
  local info = debug.getinfo(vim.notify, "S")
  return info ~= nil and info.source:find("vim/_editor.lua", 1, true) ~= nil
end

--- `message` on one line: line breaks become " | ".
--- @param message string
--- @return string
function M.one_line(message)
  return (message:gsub("%s*\r?\n%s*", " | "))
end

--- Echo one line into the message history without a prompt.
--- @param text string
--- @param level integer
local function echo(text, level)
  local shortmess = vim.o.shortmess
  if not shortmess:find("T", 1, true) then
    vim.o.shortmess = shortmess .. "T"
  end
  local ok, err = pcall(function()
    vim.cmd.echohl(HIGHLIGHT[level] or "None")
    vim.cmd.echomsg(vim.fn.string(text))
  end)
  vim.cmd.echohl("None")
  vim.o.shortmess = shortmess
  if not ok then
    error(err)
  end
end

--- Tell the user `message` (already prefixed "finch: ") at `level`, without a prompt.
--- Safe to call from callbacks: it runs on the main loop.
--- @param message string
--- @param level? integer vim.log.levels (default INFO)
function M.notify(message, level)
  level = level or vim.log.levels.INFO
  if vim.in_fast_event() then
    vim.schedule(function() M.notify(message, level) end)
    return
  end
  if M.is_builtin_notify() then
    echo(M.one_line(message), level)
  else
    vim.notify(message, level, { title = "finch" })
  end
end

--- A transient line (progress reports): not in the history, cut to fit the command line.
--- @param text string
function M.transient(text)
  text = M.one_line(text)
  local room = math.max(vim.v.echospace - 1, 10)
  if vim.fn.strdisplaywidth(text) > room then
    text = vim.fn.strcharpart(text, 0, room - 1) .. "…"
  end
  vim.api.nvim_echo({ { text } }, false, {})
end

--- The `window/showMessage` handler of the finch client: the server's notices as messages.
--- @param params lsp.ShowMessageParams
function M.show_message(_, params)
  if type(params) == "table" and type(params.message) == "string" then
    local message = params.message
    if not vim.startswith(message, "finch") then
      message = "finch: " .. message
    end
    M.notify(message, M.MESSAGE_LEVELS[params.type] or vim.log.levels.INFO)
  end
  return vim.NIL
end

return M
