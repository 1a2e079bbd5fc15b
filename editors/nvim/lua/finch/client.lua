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
  require("finch.notice").notify("finch: " .. message, vim.log.levels.ERROR)
end

--- The first word of the server command, when it is not an executable program.
--- @param cmd any the `cmd` option
--- @return string?
function M.missing_program(cmd)
  local program = type(cmd) == "table" and cmd[1]
  if type(program) == "string" and vim.fn.executable(program) == 0 then
    return program
  end
end

--- What to do when the server command cannot run.
--- @param program string
--- @return string
function M.install_advice(program)
  return ("cannot start the server: `%s` is not an executable program. Install it from the finch-lsp repository "
    .. "with `make install`, then set cmd = { \"/path/to/finch-lsp/.venv/bin/finch-lsp\" } in "
    .. "require(\"finch\").setup() (see :checkhealth finch)"):format(program)
end

--- Why no finch client serves `bufnr`, and what to do.
--- @param bufnr integer
--- @return string
function M.not_running_reason(bufnr)
  local options = require("finch").options or config.resolve()
  local program = M.missing_program(options.cmd)
  if program then
    return M.install_advice(program)
  end
  if #vim.lsp.get_clients({ name = config.NAME, _uninitialized = true }) > 0 then
    return "the server is starting; try again in a moment"
  end
  local filetype = vim.bo[bufnr].filetype
  if options.filetypes and not vim.tbl_contains(options.filetypes, filetype) then
    return ("the server is not running: it starts in a buffer of a configured filetype (this one is %s); "
      .. "set filetypes in require(\"finch\").setup(), or open such a file"):format(filetype ~= "" and filetype or "without a filetype")
  end
  return "the server is not running in this buffer: it may have exited at start; "
    .. "see the server's log (Neovim's LSP log, vim.lsp.log.get_filename(), or --log-file) and :checkhealth finch"
end

--- Run a server command; `on_result(result)` is called on success, errors are shown.
--- @param command string e.g. "finch.status"
--- @param arguments? any[]
--- @param on_result? fun(result: any)
--- @param bufnr? integer
function M.execute(command, arguments, on_result, bufnr)
  local client = M.get(bufnr)
  if not client then
    M.error(M.not_running_reason(bufnr or 0))
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
