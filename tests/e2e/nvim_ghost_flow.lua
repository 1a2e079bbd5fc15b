-- Ghost text on Neovim 0.11 against the real server: typed keys only, no menu key.
-- `nvim --clean --headless -u tests/e2e/nvim_ghost_flow.lua` with FINCH_SERVER_CMD (JSON list),
-- FINCH_TEST_DIR (a folder for the Python files) and FINCH_TEST_RESULT; the report names each
-- test, and `facts` holds what was shown and accepted for the Python side to check.

local H = dofile(vim.fs.joinpath(vim.fs.dirname(vim.fs.abspath(debug.getinfo(1, "S").source:sub(2))), "nvim_harness.lua"))
local eq, ok = H.eq, H.ok

local ghost = require("finch.ghost")
local text = require("finch.ghost_text")

local facts = H.facts

local function execute(command, arguments)
  local reply
  local client = assert(require("finch.client").get(0), "no finch client")
  client:request("workspace/executeCommand", { command = command, arguments = arguments or {} }, function(err, res)
    reply = { err = err, result = res }
  end, 0)
  H.wait_for(command, 30000, function() return reply end)
  return reply
end

local function open(name)
  vim.cmd.edit(vim.fn.fnameescape(vim.fs.joinpath(vim.env.FINCH_TEST_DIR, name)))
  local bufnr = vim.api.nvim_get_current_buf()
  H.wait_for("the finch client", 30000, function()
    local c = require("finch.client").get(bufnr)
    return c and c.initialized and ghost.state(bufnr)
  end)
  return bufnr
end

--- The ghost text shown in `bufnr` after the keys typed so far (the server may take a while).
local function wait_ghost(bufnr, what)
  return H.wait_for(what, 90000, function()
    local shown = ghost.shown(bufnr)
    return shown and vim.api.nvim_buf_get_extmarks(bufnr, ghost.namespace, 0, -1, {})[1] and vim.deepcopy(shown)
  end)
end

local function buffer_text(bufnr)
  return table.concat(H.lines(bufnr), "\n")
end

local function last_suggestion()
  return vim.tbl_get(execute("finch.status"), "result", "lastSuggestion")
end

H.test("the model loads", function()
  open("warmup.py")
  H.wait_for("model ready", 120000, function()
    local model = vim.tbl_get(execute("finch.status"), "result", "model") or {}
    if model.state == "failed" then
      error("the model failed to load: " .. vim.inspect(model), 0)
    end
    return model.state == "ready"
  end)
end)

H.test("ghost text after def fibonacci(n):<CR>, Tab accepts, the server records it", function()
  local bufnr = open("fib.py")
  H.feed("idef fibonacci(n):<CR>")
  local shown = wait_ghost(bufnr, "ghost text after def fibonacci(n):<CR>")
  facts.fib_shown = shown.text
  facts.fib_menu = vim.fn.pumvisible()
  local before = buffer_text(bufnr)
  facts.fib_before = before
  H.feed("<Tab>")
  local id = shown.command.arguments[1]
  facts.fib_id = id
  facts.fib_accepted = H.wait_for("finch.status lastSuggestion accepted", 30000, function()
    local last = last_suggestion()
    return type(last) == "table" and last.id == id and last.accepted and last
  end)
  eq(before .. shown.text, buffer_text(bufnr), "Tab inserted the suggestion")
end)

H.test("the dismiss key clears the ghost text", function()
  local bufnr = open("dismiss.py")
  H.feed("idef fibonacci(n):<CR>")
  wait_ghost(bufnr, "ghost text to dismiss")
  local before = buffer_text(bufnr)
  H.feed("<C-]>")
  H.wait_for("the ghost text cleared", 5000, function()
    return ghost.shown(bufnr) == nil and #vim.api.nvim_buf_get_extmarks(bufnr, ghost.namespace, 0, -1, {}) == 0
  end)
  eq(before, buffer_text(bufnr), "dismissing types nothing")
end)

H.test("next word and next line insert one word, then one line", function()
  local bufnr = open("partial.py")
  H.feed("idef fibonacci(n):<CR>")
  local shown = wait_ghost(bufnr, "ghost text to accept in parts")
  local before = buffer_text(bufnr)
  local word = text.next_word(shown.text)
  ok(word ~= "", "a word to accept in " .. vim.inspect(shown.text))
  H.feed("<M-Right>")
  H.wait_for("one word inserted", 10000, function() return buffer_text(bufnr) == before .. word end)
  facts.word = { shown = shown.text, word = word }
  local rest = shown.text:sub(#word + 1)
  if rest == "" then
    facts.word.whole = true -- the suggestion was one word: accepting it was all of it
    return
  end
  eq(rest, ghost.shown(bufnr).text, "the rest stays shown")
  local line = text.next_line(rest)
  H.feed("<M-C-Right>")
  H.wait_for("one line inserted", 10000, function() return buffer_text(bufnr) == before .. word .. line end)
  facts.line = { rest = rest, line = line }
end)

H.run(function()
  require("finch").setup({
    cmd = vim.json.decode(vim.env.FINCH_SERVER_CMD),
    settings = { model = "smollm2-135m", completion = { maxNewTokens = 12 }, training = { autoTrain = false } },
    root_markers = { "pyproject.toml" },
  })
end)
