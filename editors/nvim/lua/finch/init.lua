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

--- Accept the suggestion shown: ghost text on 0.12+, the selected menu item on 0.11.
--- @return boolean accepted
function M.accept()
  local completion = require("finch.completion")
  if completion.has_inline() then
    return completion.accept_inline()
  end
  if vim.fn.pumvisible() == 1 then
    vim.api.nvim_feedkeys(vim.keycode("<C-y>"), "n", false)
    return true
  end
  return false
end

return M
