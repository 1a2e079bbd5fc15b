--- Loading and training progress (`$/progress`) from the finch server, shown as messages.
--- Begin and end go to the message history; reports replace each other in the command line.
--- None of them waits for Enter (finch.notice).

local config = require("finch.config")
local format = require("finch.format")
local notice = require("finch.notice")

local M = {}

--- Show one progress notification of the finch client.
--- @param value table {kind, title?, message?, percentage?}
function M.show(value)
  local text = format.progress(value)
  if value.kind == "report" then
    notice.transient(text)
  else
    notice.notify(text, vim.log.levels.INFO)
  end
end

--- @param args table LspProgress autocmd arguments
local function on_progress(args)
  local client = vim.lsp.get_client_by_id(args.data.client_id)
  local value = vim.tbl_get(args, "data", "params", "value")
  if client and client.name == config.NAME and type(value) == "table" then
    M.show(value)
  end
end

--- Listen to `LspProgress` for the finch client.
function M.setup()
  vim.api.nvim_create_autocmd("LspProgress", {
    group = vim.api.nvim_create_augroup("finch.progress", { clear = true }),
    desc = "finch: show loading and training progress",
    callback = on_progress,
  })
end

return M
