--- The running finch client and the server commands it executes (`workspace/executeCommand`).

local config = require("finch.config")

local M = {}

--- The finch client attached to `bufnr`, else any running finch client.
--- @param bufnr? integer
--- @return vim.lsp.Client?
function M.get(bufnr)
  local attached = vim.lsp.get_clients({ name = config.NAME, bufnr = bufnr or 0 })
  return attached[1] or vim.lsp.get_clients({ name = config.NAME })[1]
end

--- Show an error the user can act on.
--- @param message string
function M.error(message)
  vim.notify("finch: " .. message, vim.log.levels.ERROR)
end

--- Run a server command; `on_result(result)` is called on success, errors are shown.
--- @param command string e.g. "finch.status"
--- @param arguments? any[]
--- @param on_result? fun(result: any)
--- @param bufnr? integer
function M.execute(command, arguments, on_result, bufnr)
  local client = M.get(bufnr)
  if not client then
    M.error("the server is not running; open a file of a configured filetype, or see :checkhealth finch")
    return
  end
  local buf = (bufnr and bufnr ~= 0) and bufnr or vim.api.nvim_get_current_buf()
  local params = { command = command, arguments = arguments or {} }
  client:request("workspace/executeCommand", params, function(err, result)
    if err then
      M.error(("%s failed: %s"):format(command, err.message or vim.inspect(err)))
    elseif on_result then
      on_result(result)
    end
  end, buf)
end

--- Send new settings (the `finch` section) to the running clients.
--- @param settings table
function M.send_settings(settings)
  for _, client in ipairs(vim.lsp.get_clients({ name = config.NAME })) do
    client.settings = config.section(settings)
    client:notify("workspace/didChangeConfiguration", { settings = client.settings })
  end
end

return M
