--- Options of `require("finch").setup()` and the `vim.lsp.config` entry built from them.

local M = {}

--- The name of the LSP config (`vim.lsp.config.finch`) and of the client it starts.
M.NAME = "finch"

--- Languages finch attaches to unless `filetypes` says otherwise (`false`: every filetype).
M.FILETYPES = {
  "c", "cpp", "cs", "css", "go", "haskell", "html", "java", "javascript", "javascriptreact",
  "json", "kotlin", "lua", "markdown", "ocaml", "php", "python", "r", "ruby", "rust", "scala",
  "sh", "sql", "swift", "toml", "typescript", "typescriptreact", "vim", "yaml", "zig",
}

--- @class finch.Options
--- @field cmd string[] Command that starts the server on stdio.
--- @field filetypes string[]|false Filetypes to attach to; `false` attaches to every file buffer.
--- @field root_markers string[] Files or folders that mark a project root.
--- @field settings table The `finch` settings section of PROTOCOL.md (model, completion, training, teacher, ...).
--- @field display "ghost"|"menu" Ghost text (0.12+: Neovim's, 0.11: finch's), or the 0.11 completion menu.
--- @field debounce_ms integer Ghost text on 0.11: ask the server after this long without typing.
--- @field accept_key string|false Insert-mode key that accepts a suggestion; without one it does what it did.
--- @field accept_word_key string|false Insert-mode key that accepts the next word of the suggestion.
--- @field accept_line_key string|false Insert-mode key that accepts the next line of the suggestion.
--- @field dismiss_key string|false Insert-mode key that clears the suggestion.
--- @field suggest_key string|false Insert-mode key that asks for a suggestion now (0.11 ghost text).
--- @field completeopt string|false Buffer-local 'completeopt' for the Neovim 0.11 menu; `false` leaves it alone.
--- @field progress boolean Show training and loading progress ($/progress) as messages.
--- @field enable boolean Call `vim.lsp.enable("finch")` at setup.
M.defaults = {
  cmd = { "finch-lsp" },
  filetypes = M.FILETYPES,
  root_markers = { ".git", ".hg", "pyproject.toml", "package.json", "Cargo.toml", "go.mod" },
  settings = {},
  display = "ghost",
  debounce_ms = 150,
  accept_key = "<Tab>",
  accept_word_key = "<M-Right>",
  accept_line_key = "<M-C-Right>",
  dismiss_key = "<C-]>",
  suggest_key = "<M-\\>",
  completeopt = "menuone,noinsert,popup",
  progress = true,
  enable = true,
}

--- The options after merging `opts` over the defaults (lists are replaced, not merged).
--- @param opts? table
--- @return finch.Options
function M.resolve(opts)
  opts = opts or {}
  local resolved = vim.tbl_extend("force", vim.deepcopy(M.defaults), opts)
  resolved.settings = vim.deepcopy(opts.settings or {})
  return resolved
end

--- A copy of `value` where every empty table is a JSON object: settings have no lists,
--- and an empty Lua table would otherwise reach the server as `[]`.
--- @param value any
--- @return any
function M.as_objects(value)
  if type(value) ~= "table" then
    return value
  end
  if next(value) == nil then
    return vim.empty_dict()
  end
  local copy = {}
  for key, item in pairs(value) do
    copy[key] = M.as_objects(item)
  end
  return copy
end

--- The `finch` section as sent in initializationOptions and didChangeConfiguration.
--- @param settings table
--- @return table
function M.section(settings)
  return { finch = M.as_objects(settings) }
end

--- The client capabilities finch adds to Neovim's: on 0.11 with ghost text, finch itself
--- asks for `textDocument/inlineCompletion`, and says so, so the server does not put the
--- same suggestion in the completion menu too.
--- @param options finch.Options
--- @param has_native boolean Neovim shows inline completions itself (0.12+)
--- @return table?
function M.capabilities(options, has_native)
  if options.display == "menu" or has_native then
    return nil
  end
  return { textDocument = { inlineCompletion = { dynamicRegistration = false } } }
end

--- The `vim.lsp.config("finch", ...)` entry for `options`.
--- @param options finch.Options
--- @return vim.lsp.Config
function M.lsp_config(options)
  return {
    cmd = options.cmd,
    filetypes = options.filetypes or nil,
    root_markers = options.root_markers,
    init_options = M.section(options.settings),
    settings = M.section(options.settings),
    capabilities = M.capabilities(options, require("finch.native").available()),
    handlers = { ["window/showMessage"] = require("finch.notice").show_message },
  }
end

return M
