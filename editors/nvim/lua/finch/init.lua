--- finch: code completions from a local model that learns from your ratings.
---
--- require("finch").setup({ settings = { model = "qwen2.5-coder-0.5b" } })

local config = require("finch.config")

local M = {}

--- The options in force after `setup()`.
--- @type finch.Options?
M.options = nil

--- Configure and enable the finch language server, its completions and its commands.
--- @param opts? table see |finch-setup|
function M.setup(opts)
  M.options = config.resolve(opts)
  vim.lsp.config(config.NAME, config.lsp_config(M.options))
  require("finch.completion").setup(M.options)
  require("finch.commands").register()
  require("finch.models").register()
  M.report_missing_server(M.options)
  if M.options.progress then
    require("finch.progress").setup()
  end
  if M.options.enable then
    vim.lsp.enable(config.NAME)
  end
end

--- Change settings (the `finch` section) of the running server and of servers started later.
--- @param settings table e.g. { training = { threshold = 5 } }
function M.configure(settings)
  local options = M.options or config.resolve()
  options.settings = vim.tbl_deep_extend("force", options.settings, settings)
  vim.lsp.config(config.NAME, config.lsp_config(options))
  require("finch.client").send_settings(options.settings)
end

--- Tell the user once, when a file of a configured filetype opens, that the server command
--- cannot run (Neovim itself only writes it to its LSP log).
--- @param options finch.Options
function M.report_missing_server(options)
  local group = vim.api.nvim_create_augroup("finch.missing", { clear = true })
  local function check(bufnr)
    if vim.bo[bufnr].buftype ~= "" then
      return
    end
    local client = require("finch.client")
    local program = client.missing_program(M.options and M.options.cmd)
    if program then
      pcall(vim.api.nvim_del_augroup_by_id, group)
      require("finch.notice").notify("finch: " .. client.install_advice(program), vim.log.levels.ERROR)
    end
  end
  vim.api.nvim_create_autocmd("FileType", {
    group = group,
    pattern = options.filetypes or "*",
    desc = "finch: say once that the server command cannot run",
    callback = function(args) check(args.buf) end,
  })
  -- setup() may run after the first file opened (a plugin manager loading it late)
  local bufnr = vim.api.nvim_get_current_buf()
  local filetype = vim.bo[bufnr].filetype
  if filetype ~= "" and (not options.filetypes or vim.tbl_contains(options.filetypes, filetype)) then
    check(bufnr)
  end
end

--- @param action string a finch.GhostBackend field
--- @return boolean
local function act(action)
  local backend = require("finch.completion").backend(vim.api.nvim_get_current_buf())
  local fn = backend and backend[action]
  return fn ~= nil and fn(vim.api.nvim_get_current_buf()) == true
end

--- Accept the suggestion shown: ghost text, or the selected menu item with `display = "menu"`.
--- For your own mapping: it returns false when there was nothing to accept.
--- @return boolean accepted
function M.accept()
  if act("accept") then
    return true
  end
  if vim.fn.pumvisible() == 1 and vim.b.finch_display == "menu" then
    vim.api.nvim_feedkeys(vim.keycode("<C-y>"), "n", false)
    return true
  end
  return false
end

--- Accept the next word of the ghost text; false when none is shown.
--- @return boolean
function M.accept_word()
  return act("accept_word")
end

--- Accept the next line of the ghost text; false when none is shown.
--- @return boolean
function M.accept_line()
  return act("accept_line")
end

--- Clear the ghost text; false when none is shown.
--- @return boolean
function M.dismiss()
  return act("dismiss")
end

--- Ask for a suggestion at the cursor now (0.11 ghost text; 0.12 asks by itself).
--- @return boolean
function M.suggest()
  return act("suggest")
end

return M
