--- :checkhealth finch

local M = {}

local function check_neovim()
  if vim.fn.has("nvim-0.11") == 0 then
    vim.health.error("Neovim 0.11 or later is needed (vim.lsp.config, vim.lsp.enable)")
  elseif require("finch.completion").has_inline() then
    vim.health.ok("Neovim " .. tostring(vim.version()) .. ": suggestions as ghost text (vim.lsp.inline_completion)")
  else
    vim.health.ok("Neovim " .. tostring(vim.version()) .. ": suggestions in the completion menu (no inline completion before 0.12)")
  end
end

local function check_server()
  local options = require("finch").options
  if not options then
    vim.health.warn('require("finch").setup() has not been called')
    return
  end
  local program = type(options.cmd) == "table" and options.cmd[1]
  if program and vim.fn.executable(program) == 0 then
    vim.health.error(("%s is not executable"):format(program), { "pip install finch-lsp, or set cmd in setup()" })
  elseif program then
    vim.health.ok("server command: " .. table.concat(options.cmd, " "))
  end
  local client = require("finch.client").get()
  if client then
    vim.health.ok(("running (client %d, root %s)"):format(client.id, client.root_dir or "none: single file"))
  else
    vim.health.info("not running: it starts when a buffer of a configured filetype opens")
  end
end

function M.check()
  vim.health.start("finch")
  check_neovim()
  check_server()
end

return M
