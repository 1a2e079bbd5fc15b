--- :checkhealth finch

local M = {}

local DISPLAYS = {
  native = "suggestions as ghost text, drawn by Neovim (vim.lsp.inline_completion)",
  ghost = "suggestions as ghost text, drawn by finch (Neovim 0.11 has no inline completion)",
  menu = "suggestions in the completion menu (display = \"menu\")",
}

local function check_neovim()
  local version = "Neovim " .. tostring(vim.version())
  if vim.fn.has("nvim-0.11") == 0 then
    vim.health.error(version .. ": Neovim 0.11 or later is needed (vim.lsp.config, vim.lsp.enable)")
    return
  end
  local options = require("finch").options or require("finch.config").resolve()
  vim.health.ok(version .. ": " .. DISPLAYS[require("finch.completion").display(options)])
end

local LOG_ADVICE = "the server logs to stderr, which Neovim keeps in its LSP log (%s); for a file of its own and "
  .. "more detail, add to cmd: \"--log-file\", \"/tmp/finch-lsp.log\", \"--log-level\", \"DEBUG\""

local function check_server()
  local options = require("finch").options
  if not options then
    vim.health.warn('require("finch").setup() has not been called')
    return
  end
  local finch_client = require("finch.client")
  local program = finch_client.missing_program(options.cmd)
  if program then
    vim.health.error(("the server command %s is not an executable program"):format(program), {
      "install the server from the finch-lsp repository: `make install` (it creates .venv/bin/finch-lsp)",
      'then point the plugin at it: require("finch").setup({ cmd = { "/path/to/finch-lsp/.venv/bin/finch-lsp" } })',
    })
  elseif type(options.cmd) == "table" then
    vim.health.ok("server command: " .. table.concat(options.cmd, " "))
  end
  local client = finch_client.get()
  if client then
    vim.health.ok(("running (client %d, root %s)"):format(client.id, client.root_dir or "none: single file"))
  else
    vim.health.info("not running: " .. finch_client.not_running_reason(vim.api.nvim_get_current_buf()))
  end
  vim.health.info(LOG_ADVICE:format(vim.lsp.log.get_filename()))
end

function M.check()
  vim.health.start("finch")
  check_neovim()
  check_server()
end

return M
