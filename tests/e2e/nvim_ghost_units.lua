-- editors/nvim ghost text, keys, notices and the 0.12 call, against an in-process fake server
-- whose answers the tests choose. Run with
--   FINCH_TEST_RESULT=out.json nvim --clean --headless -u tests/e2e/nvim_ghost_units.lua
-- (tests/e2e/test_nvim.py does); the report names every test.

local H = dofile(vim.fs.joinpath(vim.fs.dirname(vim.fs.abspath(debug.getinfo(1, "S").source:sub(2))), "nvim_harness.lua"))
local eq, ok = H.eq, H.ok

local text = require("finch.ghost_text")
local config = require("finch.config")
local ghost = require("finch.ghost")
local notice = require("finch.notice")

local FIB = "if n < 2:\n        return n\n    return fibonacci(n - 1) + fibonacci(n - 2)"

--- The fake server: records every message; `answers` is a queue of inlineCompletion results
--- (then empty lists); `hold` keeps the next answer's callback in `held` instead.
local server = { messages = {}, answers = {}, hold = false, held = nil, dispatchers = nil }

local function fake_server(dispatchers)
  server.dispatchers = dispatchers
  local closing = false
  return {
    request = function(method, params, callback)
      table.insert(server.messages, { method = method, params = params })
      local result = vim.NIL
      if method == "initialize" then
        result = { capabilities = {
          textDocumentSync = 2,
          inlineCompletionProvider = true,
          completionProvider = { triggerCharacters = { " " } },
          executeCommandProvider = { commands = { "finch.accept", "finch.status" } },
        } }
      elseif method == "textDocument/inlineCompletion" then
        result = table.remove(server.answers, 1) or { items = {} }
        if server.hold then
          server.held = function() callback(nil, result) end
          return true, #server.messages
        end
      end
      callback(nil, result)
      return true, #server.messages
    end,
    notify = function(method, params)
      table.insert(server.messages, { method = method, params = params })
      return true
    end,
    is_closing = function() return closing end,
    terminate = function() closing = true end,
  }
end

--- A finch item at the position of the last inlineCompletion request... built when answered.
local function item(insert_text, id)
  return { items = { {
    insertText = insert_text,
    command = { title = "Accept finch suggestion", command = "finch.accept", arguments = { id } },
  } } }
end

local function methods_since(from)
  local out = {}
  for i = from, #server.messages do
    out[#out + 1] = server.messages[i].method
  end
  return out
end

local function accepts_since(from)
  local out = {}
  for i = from, #server.messages do
    local m = server.messages[i]
    if m.method == "workspace/executeCommand" and m.params.command == "finch.accept" then
      out[#out + 1] = m.params.arguments[1]
    end
  end
  return out
end

local function marks(bufnr)
  return vim.api.nvim_buf_get_extmarks(bufnr, ghost.namespace, 0, -1, { details = true })
end

--- The ghost text drawn in `bufnr` as {first line, further lines...}; nil when none.
local function drawn(bufnr)
  local found = marks(bufnr)[1]
  if not found then
    return nil
  end
  local details = found[4]
  local out = { details.virt_text and details.virt_text[1][1] or "" }
  for _, line in ipairs(details.virt_lines or {}) do
    out[#out + 1] = line[1][1]
  end
  return out, details
end

--- A new Python buffer holding `lines`, with the finch client attached.
local function python_buffer(lines, native)
  vim.cmd.edit(vim.fn.fnameescape(vim.fn.tempname() .. ".py"))
  local bufnr = vim.api.nvim_get_current_buf()
  vim.api.nvim_buf_set_lines(bufnr, 0, -1, false, lines)
  H.wait_for("the finch client in the buffer", 5000, function()
    return #vim.lsp.get_clients({ bufnr = bufnr, name = "finch" }) == 1 and (native or ghost.state(bufnr))
  end)
  return bufnr
end

--- Type `def fibonacci(n):<CR>` into a new buffer and wait for the ghost text of `answer`.
local function fibonacci_with_ghost(answer)
  local bufnr = python_buffer({ "" })
  table.insert(server.answers, answer)
  H.feed("idef fibonacci(n):<CR>")
  H.wait_for("ghost text after def fibonacci(n):<CR>", 5000, function() return drawn(bufnr) end)
  return bufnr
end

H.test("pure: remaining text after typing", function()
  eq("turn n", text.remaining("return n", "    re", 4, 6), "typed part removed")
  eq("return n", text.remaining("return n", "    ", 4, 4), "nothing typed")
  eq(nil, text.remaining("return n", "    rx", 4, 6), "typed something else")
  eq(nil, text.remaining("return n", "    ", 4, 2), "cursor before the start")
end)

H.test("pure: next word and next line", function()
  local cases = {
    { "if n < 2:\n  x", "if", "if n < 2:" },
    { " n < 2:", " n", " n < 2:" },
    { " < 2:", " <", " < 2:" },
    { ":\n        return n", ":", ":" },
    { "\n        return n\n    y", "\n        return", "\n        return n" },
    { "foo_bar(1)", "foo_bar", "foo_bar(1)" },
    { "   ", "   ", "   " },
  }
  for _, case in ipairs(cases) do
    eq(case[2], text.next_word(case[1]), "next_word " .. vim.inspect(case[1]))
    eq(case[3], text.next_line(case[1]), "next_line " .. vim.inspect(case[1]))
  end
  eq(FIB, text.piece(FIB, nil), "piece: everything")
end)

H.test("pure: display lines expand tabs", function()
  eq({ "a   b", "    c" }, text.display_lines("a\tb\n\tc", 4, 0), "tabs from column 0")
  eq({ "  b" }, text.display_lines("\tb", 4, 2), "the first line starts at the cursor's column")
  eq({ 0, 10 }, { text.end_position(0, 4, { "if n<2" }) }, "end of one line")
  eq({ 2, 3 }, { text.end_position(0, 4, { "a", "b", "c:d" }) }, "end of three lines")
end)

H.test("0.11 ghost: the client says it asks for inline completions itself", function()
  python_buffer({ "" })
  local init = server.messages[1]
  eq("initialize", init.method, "first message")
  eq({ dynamicRegistration = false }, vim.tbl_get(init.params, "capabilities", "textDocument", "inlineCompletion"),
    "inlineCompletion client capability")
  eq(nil, config.capabilities(config.resolve({ display = "menu" }), false), "the menu does not claim it")
  eq(nil, config.capabilities(config.resolve({}), true), "0.12 claims it itself")
end)

H.test("0.11 ghost: appears after def fibonacci(n):<CR> with no key, inline then virtual lines", function()
  local from = #server.messages + 1
  local bufnr = fibonacci_with_ghost(item(FIB, "g1"))
  local lines, details = drawn(bufnr)
  eq({ "if n < 2:", "        return n", "    return fibonacci(n - 1) + fibonacci(n - 2)" }, lines, "ghost text")
  eq("inline", details.virt_text_pos, "first line inline")
  eq(ghost.HIGHLIGHT, details.virt_text[1][2], "highlight")
  eq(0, vim.fn.pumvisible(), "no completion menu")
  eq({ "def fibonacci(n):", "    " }, H.lines(bufnr), "the buffer holds only what was typed")
  local asked = vim.tbl_filter(function(m) return m.method == "textDocument/inlineCompletion" end,
    { unpack(server.messages, from) })
  eq(1, #asked, "one request after the pause (debounced)")
  eq({ line = 1, character = 4 }, asked[1].params.position, "asked at the indented cursor")
  eq(2, asked[1].params.context.triggerKind, "automatic trigger")
end)

H.test("0.11 ghost: Tab inserts it, then sends finch.accept after the text", function()
  local bufnr = fibonacci_with_ghost(item(FIB, "g2"))
  local from = #server.messages + 1
  H.feed("<Tab>")
  H.wait_for("finch.accept", 5000, function() return #accepts_since(from) > 0 end)
  eq({ "def fibonacci(n):", "    if n < 2:", "        return n", "    return fibonacci(n - 1) + fibonacci(n - 2)" },
    H.lines(bufnr), "the whole suggestion inserted")
  eq({ 4, 46 }, vim.api.nvim_win_get_cursor(0), "cursor after it")
  local methods = methods_since(from)
  local accept_at = vim.fn.index(methods, "workspace/executeCommand") + 1
  eq("textDocument/didChange", methods[accept_at - 1], "didChange goes before finch.accept")
  eq({ "g2" }, accepts_since(from), "finch.accept with the suggestion id, once")
  eq(nil, drawn(bufnr), "nothing drawn after accepting")
end)

H.test("0.11 ghost: dismiss clears it and types nothing", function()
  local bufnr = fibonacci_with_ghost(item(FIB, "g3"))
  local from = #server.messages + 1
  H.feed("<C-]>")
  H.wait_for("the ghost text cleared", 5000, function() return drawn(bufnr) == nil end)
  eq({ "def fibonacci(n):", "    " }, H.lines(bufnr), "nothing typed")
  eq({}, accepts_since(from), "no finch.accept")
end)

H.test("0.11 ghost: next word, next line, then the rest; finch.accept once at the end", function()
  local bufnr = fibonacci_with_ghost(item(FIB, "g4"))
  local from = #server.messages + 1
  H.feed("<M-Right>")
  H.wait_for("one word inserted", 5000, function() return H.lines(bufnr)[2] == "    if" end)
  eq({ " n < 2:", "        return n", "    return fibonacci(n - 1) + fibonacci(n - 2)" }, drawn(bufnr), "the rest still shown")
  H.feed("<M-C-Right>")
  H.wait_for("the line completed", 5000, function() return H.lines(bufnr)[2] == "    if n < 2:" end)
  H.feed("<M-C-Right>")
  H.wait_for("the next line", 5000, function() return H.lines(bufnr)[3] == "        return n" end)
  eq({}, accepts_since(from), "no finch.accept while part of it is left")
  H.feed("<Tab>")
  H.wait_for("finch.accept", 5000, function() return #accepts_since(from) > 0 end)
  eq({ "def fibonacci(n):", "    if n < 2:", "        return n", "    return fibonacci(n - 1) + fibonacci(n - 2)" },
    H.lines(bufnr), "the whole suggestion, in pieces")
  eq({ "g4" }, accepts_since(from), "finch.accept once")
end)

H.test("0.11 ghost: typing what it says keeps the rest; typing else clears it", function()
  local bufnr = fibonacci_with_ghost(item(FIB, "g5"))
  H.feed("if")
  H.wait_for("the rest after typing 'if'", 5000, function()
    local lines = drawn(bufnr)
    return lines and lines[1] == " n < 2:"
  end)
  H.feed("x")
  H.wait_for("cleared after a different character", 5000, function() return drawn(bufnr) == nil end)
end)

H.test("0.11 ghost: a cursor move and leaving Insert mode clear it", function()
  local bufnr = fibonacci_with_ghost(item(FIB, "g6"))
  H.feed("<Left>")
  H.wait_for("cleared on a cursor move", 5000, function() return drawn(bufnr) == nil end)
  bufnr = fibonacci_with_ghost(item(FIB, "g7"))
  H.feed("<Esc>")
  H.wait_for("cleared on InsertLeave", 5000, function() return drawn(bufnr) == nil end)
end)

H.test("0.11 ghost: an answer for an older buffer state is not shown", function()
  local bufnr = python_buffer({ "" })
  server.hold = true
  table.insert(server.answers, item(FIB, "g8"))
  H.feed("idef fibonacci(n):<CR>")
  H.wait_for("the request held", 5000, function() return server.held end)
  H.feed("x")
  H.wait_for("the x typed", 5000, function() return H.lines(bufnr)[2] == "    x" end)
  server.hold = false
  local release = server.held
  server.held = nil
  release()
  H.settle(100)
  eq(nil, drawn(bufnr), "stale answer dropped")
end)

H.test("keys: without ghost text, Tab indents and another mapping of the key still runs", function()
  local bufnr = python_buffer({ "x = 1" })
  local from = #server.messages + 1
  H.feed("o<Tab>")
  H.wait_for("Tab indents", 5000, function() return H.lines(bufnr)[2] == "    " end)
  eq({}, accepts_since(from), "no finch.accept")
  eq("i", vim.api.nvim_get_mode().mode, "still in Insert mode")
  -- a mapping the user had before finch attached
  H.feed("<Esc>")
  H.wait_mode("n")
  vim.keymap.set("i", "<M-Right>", function() vim.g.finch_test_prior = (vim.g.finch_test_prior or 0) + 1 end)
  bufnr = python_buffer({ "" })
  H.feed("i<M-Right>")
  H.wait_for("the earlier <M-Right> mapping", 5000, function() return vim.g.finch_test_prior == 1 end)
  vim.keymap.del("i", "<M-Right>")
end)

H.test("notices: the server's showMessage goes to the history whole, without the LSP prefix", function()
  python_buffer({ "" })
  vim.cmd("messages clear")
  local message = "finch: adapter v0001 is active (1 example; reproduces 1/1 corrections, keeps 6/6 unrelated suggestions as they were)"
  server.dispatchers.notification("window/showMessage", { type = 3, message = message })
  local history = H.wait_for("the message in :messages", 5000, function()
    local out = vim.api.nvim_exec2("messages", { output = true }).output
    return out:find(message, 1, true) and out
  end)
  ok(not history:find("LSP[finch]", 1, true), "no LSP[finch][Info] prefix: " .. history)
  ok(notice.is_builtin_notify(), "Neovim's own vim.notify is in use here")
  eq("a | b", notice.one_line("a\nb"), "line breaks joined")
end)

H.test("notices: a plugin's vim.notify gets the whole text and the level", function()
  local seen = {}
  local builtin = vim.notify
  vim.notify = function(message, level) seen[#seen + 1] = { message, level } end
  notice.notify("finch: line one\nline two", vim.log.levels.WARN)
  vim.notify = builtin
  eq({ { "finch: line one\nline two", vim.log.levels.WARN } }, seen, "passed on unchanged")
end)

--- Neovim 0.12's vim.lsp.inline_completion, as its source defines the calls finch makes:
--- enable(enable?, filter?) with filter {bufnr} or {client_id}, never both; get(opts?) ->
--- boolean, calling opts.on_accept(item) instead of inserting when given.
local function stub_inline_completion(calls)
  local stub = { current = nil }
  stub.enable = function(enable, filter)
    assert(enable == nil or type(enable) == "boolean", "enable: boolean?")
    assert(filter == nil or type(filter) == "table", "filter: table?")
    assert(not (filter and filter.bufnr and filter.client_id), "`bufnr` and `client_id` are mutually exclusive.")
    calls[#calls + 1] = { "enable", enable, filter }
  end
  stub.get = function(opts)
    calls[#calls + 1] = { "get", opts and opts.bufnr, opts ~= nil and opts.on_accept ~= nil }
    local current = stub.current
    if not current then
      return false
    end
    stub.current = nil
    vim.schedule(function()
      if opts and opts.on_accept then
        opts.on_accept(current)
      else
        vim.api.nvim_paste(current.insert_text, false, 0) -- what Neovim does without a range
      end
    end)
    return true
  end
  return stub
end

H.test("0.12: enable per buffer only, and the keys act through get()", function()
  local calls = {}
  local stub = stub_inline_completion(calls)
  vim.lsp.inline_completion = stub
  require("finch").setup({ cmd = fake_server, filetypes = { "python" }, root_markers = {}, progress = false })
  local bufnr = python_buffer({ "def fibonacci(n):", "    " }, true)
  H.wait_for("enable called", 5000, function() return calls[1] end)
  eq({ "enable", true, { bufnr = bufnr } }, calls[1], "enable(true, {bufnr = bufnr})")
  eq("native", vim.b[bufnr].finch_display, "Neovim draws it")
  local client = vim.lsp.get_clients({ bufnr = bufnr, name = "finch" })[1]
  local command = { title = "Accept", command = "finch.accept", arguments = { "n1" } }
  -- partial: the next word, from an item whose range starts at the cursor
  vim.api.nvim_win_set_cursor(0, { 2, 4 })
  stub.current = { insert_text = FIB, range = { start = { row = 1, col = 4 } }, command = command, client_id = client.id }
  local from = #server.messages + 1
  H.feed("A<M-Right>")
  H.wait_for("the word inserted", 5000, function() return H.lines(bufnr)[2] == "    if" end)
  eq({}, accepts_since(from), "no finch.accept for a part")
  -- the next line of a one-line item is all of it: finch.accept runs
  stub.current = { insert_text = " n < 2:", command = command, client_id = client.id }
  H.feed("<M-C-Right>")
  H.wait_for("finch.accept after the last part", 5000, function() return #accepts_since(from) > 0 end)
  eq("    if n < 2:", H.lines(bufnr)[2], "the line inserted")
  -- Tab with a suggestion: get() accepts; without one: a Tab is typed
  stub.current = { insert_text = "pass", command = command, client_id = client.id }
  H.feed("<CR><Tab>")
  H.wait_for("accepted through get()", 5000, function() return (H.lines(bufnr)[3] or ""):find("pass", 1, true) end)
  eq({ "get", bufnr, false }, calls[#calls], "get({bufnr}) without on_accept: Neovim inserts and runs finch.accept")
  H.feed("<Tab>")
  H.wait_for("a Tab typed when nothing is shown", 5000, function() return (H.lines(bufnr)[3] or ""):find("pass    ", 1, true) end)
  -- dismiss: get() with an on_accept that inserts nothing
  stub.current = { insert_text = "ignored", command = command, client_id = client.id }
  local before = H.lines(bufnr)
  H.feed("<C-]>")
  H.wait_for("dismissed", 5000, function() return stub.current == nil end)
  H.settle(50)
  eq(before, H.lines(bufnr), "dismiss inserts nothing")
  vim.lsp.inline_completion = nil
end)

H.test("missing server: said once when a file opens, and :FinchStatus says what to do", function()
  local seen = {}
  local builtin = vim.notify
  vim.notify = function(message, level) seen[#seen + 1] = { message = message, level = level } end
  require("finch").setup({ cmd = { "finch-lsp-not-installed" }, filetypes = { "python" }, root_markers = {}, progress = false })
  vim.cmd.edit(vim.fn.fnameescape(vim.fn.tempname() .. ".py"))
  vim.cmd.edit(vim.fn.fnameescape(vim.fn.tempname() .. ".py"))
  H.settle(50)
  vim.notify = builtin
  eq(1, #seen, "one notice for two files: " .. vim.inspect(seen))
  local message = seen[1].message
  eq(vim.log.levels.ERROR, seen[1].level, "an error")
  ok(message:find("`finch-lsp-not-installed` is not an executable program", 1, true), message)
  ok(message:find("make install", 1, true) and message:find(".venv/bin/finch-lsp", 1, true), message)
  ok(not message:find("pip install", 1, true), "no pip install: " .. message)
  eq(require("finch.client").install_advice("finch-lsp-not-installed"),
    require("finch.client").not_running_reason(vim.api.nvim_get_current_buf()), ":FinchStatus gives the same advice")
  vim.cmd("checkhealth finch")
  local health = table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), "\n")
  vim.cmd("bwipeout")
  ok(health:find("finch-lsp-not-installed is not an executable program", 1, true), health)
  ok(health:find("make install", 1, true) and health:find(".venv/bin/finch-lsp", 1, true), health)
  ok(health:find("--log-file", 1, true) and health:find("--log-level", 1, true), "the log advice: " .. health)
  ok(not health:find("pip install", 1, true), "no pip install: " .. health)
end)

H.test("missing server: setup() after the file opened still says so", function()
  local seen = {}
  local builtin = vim.notify
  vim.notify = function(message, level) seen[#seen + 1] = { message = message, level = level } end
  require("finch").setup({ cmd = { "finch-lsp-not-installed" }, filetypes = { "python" }, root_markers = {}, progress = false })
  vim.notify = builtin
  eq(1, #seen, "said at setup for the python buffer already open")
  ok(seen[1].message:find("make install", 1, true), seen[1].message)
end)

H.run(function()
  require("finch").setup({ cmd = fake_server, filetypes = { "python" }, root_markers = {}, progress = false })
end)
