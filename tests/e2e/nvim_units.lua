-- editors/nvim without a model: the formatting, the settings payload, and the 0.11 menu path
-- against an in-process fake server (so every step is synchronous and exact).
-- Run with `nvim --clean --headless -l tests/e2e/nvim_units.lua`; prints "ok N" or fails.

local repo = vim.fs.dirname(vim.fs.dirname(vim.fs.dirname(vim.fs.abspath(debug.getinfo(1, "S").source:sub(2)))))
vim.opt.runtimepath:prepend(repo .. "/editors/nvim")

local checks = 0
local function eq(expected, actual, what)
  checks = checks + 1
  if not vim.deep_equal(expected, actual) then
    io.stderr:write(("FAIL %s\n  expected: %s\n  actual:   %s\n"):format(what, vim.inspect(expected), vim.inspect(actual)))
    os.exit(1)
  end
end

local format = require("finch.format")
local config = require("finch.config")

local function test_format()
  eq("finch: critical feedback recorded: weight 10, waiting for a correction, buffer 3 examples (weighted 23), training started",
    format.feedback({ rating = "critical", weight = 10.0, pending = true, bufferSize = 3, weightedTotal = 23.0, trainingStarted = true }),
    "format.feedback")
  eq("finch: training not started: training is already running",
    format.train({ started = false, reason = "training is already running" }), "format.train")
  eq("epoch 2/3, step 5/8, loss 0.981", format.training_progress({ epoch = 2, epochs = 3, step = 5, steps = 8, loss = 0.9814 }),
    "format.training_progress")
  eq("finch: training an adapter: epoch 1/3 (33%)",
    format.progress({ kind = "report", title = "finch: training an adapter", message = "epoch 1/3", percentage = 33 }), "format.progress")
  eq("v0003  2026-11-23T06:00:00+00:00  12 examples  loss 0.500  (reproduces 2/2 corrections)  [active]",
    format.adapter({ version = 3, createdAt = "2026-11-23T06:00:00+00:00", examples = 12, finalLoss = 0.5, active = true,
      verdict = "reproduces 2/2 corrections" }), "format.adapter")
  eq("finch: now using the base model", format.adapter_result({ active = vim.NIL }), "format.adapter_result base")
  local lines = format.status({
    model = { name = "tiny-qwen2", device = "cpu", state = "ready" },
    adapter = { version = vim.NIL },
    buffer = { examples = 2, weighted = 13, pending = 1 },
    training = { state = "running", progress = { epoch = 1, epochs = 3, step = 1, steps = 3, loss = 2 } },
    lastSuggestion = { text = string.rep("é", 70), accepted = true },
  })
  eq("  model     tiny-qwen2 on cpu, ready", lines[2], "status model")
  eq("  adapter   none (base model)", lines[3], "status adapter")
  eq("  buffer    2 examples, weighted 13, 1 waiting for a correction", lines[4], "status buffer")
  eq("  training  running: epoch 1/3, step 1/3, loss 2", lines[5], "status training")
  eq(('  last      "%s..." (accepted)'):format(string.rep("é", 57)), lines[6], "status cuts on characters")
end

local function test_settings_payload()
  eq('{"finch":{}}', vim.json.encode(config.section({})), "empty settings are an object")
  eq("{}", vim.json.encode(config.section({ model = "x", completion = {} }).finch.completion),
    "nested empty settings are objects")
  local resolved = config.resolve({ cmd = { "x" }, filetypes = false })
  eq(nil, config.lsp_config(resolved).filetypes, "filetypes = false attaches everywhere")
end

--- A server in this process: answers initialize, completion and executeCommand, and records
--- every message in order.
local function fake_server(messages, item)
  return function(dispatchers)
    local closing = false
    return {
      request = function(method, params, callback)
        table.insert(messages, { method = method, params = params })
        local results = {
          initialize = { capabilities = {
            textDocumentSync = 2,
            completionProvider = { triggerCharacters = { " " } },
            executeCommandProvider = { commands = { "finch.accept" } },
          } },
          ["textDocument/completion"] = { isIncomplete = true, items = { item } },
        }
        callback(nil, results[method] or vim.NIL)
        return true, #messages
      end,
      notify = function(method, params)
        table.insert(messages, { method = method, params = params })
        return true
      end,
      is_closing = function() return closing end,
      terminate = function() closing = true end,
    }
  end
end

local TEXT = "a + b\n    # done"
local ITEM = {
  label = "a + b", kind = 15, filterText = TEXT, insertTextFormat = 1,
  textEdit = { range = { start = { line = 1, character = 11 }, ["end"] = { line = 1, character = 11 } }, newText = TEXT },
  command = { title = "Accept finch suggestion", command = "finch.accept", arguments = { "s1-test" } },
  data = { suggestionId = "s1-test" },
}
local EXPECTED = { "def add(a, b):", "    return a + b", "    # done" }

--- Type `return ` at the end of the buffer, ask for completions and accept with <C-y>.
local function accept_from_menu(bufnr)
  vim.api.nvim_buf_set_lines(bufnr, 0, -1, false, { "def add(a, b):", "    return " })
  vim.api.nvim_win_set_cursor(0, { 2, 0 })
  vim.api.nvim_feedkeys(vim.keycode("A<Cmd>lua vim.lsp.completion.get()<CR><C-y><Esc>"), "x", false)
end

--- The methods the fake server received since message `from`, in order.
local function methods_since(messages, from)
  local methods = {}
  for i = from, #messages do
    methods[#methods + 1] = messages[i].method
  end
  return methods
end

local function expect_accept_after_the_text(messages, from, what)
  local methods = methods_since(messages, from)
  eq("workspace/executeCommand", methods[#methods], what .. ": finch.accept is the last message")
  eq("textDocument/didChange", methods[#methods - 1], what .. ": the server has the whole text before finch.accept")
  eq({ command = "finch.accept", arguments = { "s1-test" } }, messages[#messages].params, what .. ": finch.accept arguments")
  return methods
end

local function count(list, value)
  return #vim.tbl_filter(function(v) return v == value end, list)
end

local function test_menu_accepts_multiline_then_runs_finch_accept(messages)
  vim.cmd.edit(vim.fn.tempname() .. ".py")
  local bufnr = vim.api.nvim_get_current_buf()
  eq(true, vim.wait(2000, function() return require("finch.client").get(bufnr) ~= nil end), "the plugin started the client")
  eq("menuone,noinsert,popup", vim.bo[bufnr].completeopt, "buffer-local completeopt")
  local from = #messages + 1
  accept_from_menu(bufnr)
  eq(EXPECTED, vim.api.nvim_buf_get_lines(bufnr, 0, -1, false), "the whole suggestion is inserted")
  local methods = expect_accept_after_the_text(messages, from, "finch's menu")
  eq(1, count(methods, "workspace/executeCommand"), "finch.accept runs once")
end

--- A user's LspAttach enabled vim.lsp.completion in the buffer before finch could (without
--- finch's convert): Neovim inserts the first word and runs the command itself; finch still
--- completes the text and sends finch.accept again, after it.
local function test_menu_made_by_another_enable_call(messages)
  vim.cmd.enew()
  local bufnr = vim.api.nvim_get_current_buf()
  vim.lsp.completion.enable(true, require("finch.client").get().id, bufnr, {})
  vim.cmd.file(vim.fn.fnameescape(vim.fn.tempname() .. ".py"))
  vim.bo[bufnr].filetype = "python"
  eq(true, vim.wait(2000, function() return #vim.lsp.get_clients({ bufnr = bufnr }) == 1 end), "attached to the second buffer")
  local from = #messages + 1
  accept_from_menu(bufnr)
  eq(EXPECTED, vim.api.nvim_buf_get_lines(bufnr, 0, -1, false), "the whole suggestion is inserted without finch's convert")
  local methods = expect_accept_after_the_text(messages, from, "another menu")
  eq(2, count(methods, "workspace/executeCommand"), "Neovim ran finch.accept first, finch once more after the text")
end

local function test_menu()
  local messages = {}
  require("finch").setup({ cmd = fake_server(messages, ITEM), filetypes = { "python" }, root_markers = {}, progress = false,
    display = "menu" })
  test_menu_accepts_multiline_then_runs_finch_accept(messages)
  test_menu_made_by_another_enable_call(messages)
end

test_format()
test_settings_payload()
test_menu()
io.stdout:write(("ok %d\n"):format(checks))
os.exit(0)
