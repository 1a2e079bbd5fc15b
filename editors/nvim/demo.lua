-- The learning loop as a Neovim user lives it, printed as a transcript.
--
--   FINCH_DEMO_MODEL=smollm2-135m FINCH_DATA_DIR=/tmp/finch-demo \
--   FINCH_SERVER_CMD='["finch-lsp"]' nvim --clean --headless -l editors/nvim/demo.lua
--
-- Environment: FINCH_DEMO_MODEL (default smollm2-135m), FINCH_SERVER_CMD (a JSON list,
-- default ["finch-lsp"]), FINCH_DATA_DIR (passed on to the server), FINCH_DEMO_SETTINGS
-- (a JSON object merged into the `finch` settings), FINCH_DEMO_CORRECTION (default sum((a, b))),
-- FINCH_DEMO_TIMEOUT (seconds for each long wait: model load, a completion, training; default 600),
-- FINCH_DEMO_LESSONS (a JSON list of {prompt, correction, note}: the suggestions to rate critical;
-- default one lesson on FIRST_PROMPT) and FINCH_DEMO_NEW (a JSON list of new prompts shown before
-- and after training; default SECOND_PROMPT).
-- Exits 0 when the whole loop ran and the new adapter became active, 1 otherwise.

local here = vim.fs.dirname(vim.fs.abspath(debug.getinfo(1, "S").source:sub(2)))
vim.opt.runtimepath:prepend(here)

local format = require("finch.format")

local env = vim.env
local TIMEOUT_MS = tonumber(env.FINCH_DEMO_TIMEOUT or "600") * 1000
local FIRST_PROMPT = { "def add(a, b):", "    return " }
local SECOND_PROMPT = { "def add_three(a, b, c):", "    return " }
local CORRECTION = env.FINCH_DEMO_CORRECTION or "sum((a, b))"
local NOTE = "house style: add with sum()"
local LESSONS = env.FINCH_DEMO_LESSONS and vim.json.decode(env.FINCH_DEMO_LESSONS)
  or { { prompt = table.concat(FIRST_PROMPT, "\n"), correction = CORRECTION, note = NOTE } }
local NEW_PROMPTS = env.FINCH_DEMO_NEW and vim.json.decode(env.FINCH_DEMO_NEW) or { table.concat(SECOND_PROMPT, "\n") }

--- One transcript line (or several, indented under the first).
local function say(text, ...)
  io.stdout:write("[nvim] ", text, "\n")
  for _, line in ipairs({ ... }) do
    io.stdout:write("         ", line, "\n")
  end
  io.stdout:flush()
end

--- Stop with a readable reason.
local function fail(reason)
  say("FAILED: " .. reason)
  os.exit(1)
end

--- Wait for `predicate()`; fail with `what` after `timeout_ms`.
local function wait_for(what, timeout_ms, predicate)
  local value
  local ok = vim.wait(timeout_ms, function()
    value = predicate()
    return value ~= nil and value ~= false
  end, 50)
  if not ok then
    fail(("no %s after %d s"):format(what, timeout_ms / 1000))
  end
  return value
end

--- Everything the plugin and the server show the user goes to the transcript.
local messages = {}
local function capture_messages()
  vim.notify = function(message)
    say(message)
  end
  -- the finch client's own showMessage handler (it would otherwise echo them)
  require("finch.notice").show_message = function(_, params)
    table.insert(messages, params.message)
    say("message: " .. params.message)
    return vim.NIL
  end
  vim.api.nvim_create_autocmd("LspProgress", {
    callback = function(args)
      local value = vim.tbl_get(args, "data", "params", "value")
      if type(value) == "table" then
        say("progress: " .. format.progress(value))
      end
    end,
  })
end

local function settings()
  -- One example trains in seconds; ten passes over it let the adapter reproduce the correction.
  local base = { model = env.FINCH_DEMO_MODEL or "smollm2-135m" }
  local extra = env.FINCH_DEMO_SETTINGS and vim.json.decode(env.FINCH_DEMO_SETTINGS) or {}
  return vim.tbl_deep_extend("force", base, extra)
end

--- A server command through the client the plugin started; the reply {err, result}.
local function execute(client, command, arguments)
  local reply
  client:request("workspace/executeCommand", { command = command, arguments = arguments or {} }, function(err, result)
    reply = { err = err, result = result }
  end, 0)
  return wait_for("answer to " .. command, 30000, function() return reply end)
end

--- Open a new Python file holding `lines`, as if typed; the finch client attached to it.
local function open_file(name, lines)
  vim.cmd.edit(vim.fn.fnameescape(vim.fs.joinpath(vim.fn.tempname(), name)))
  local bufnr = vim.api.nvim_get_current_buf()
  vim.api.nvim_buf_set_lines(bufnr, 0, -1, false, lines)
  local client = wait_for("finch client on " .. name, 30000, function()
    local c = require("finch.client").get(bufnr)
    return c and c.initialized and c
  end)
  say(("typed in %s (filetype %s):"):format(name, vim.bo[bufnr].filetype), unpack(lines))
  return bufnr, client
end

local function wait_until_ready(client)
  say("waiting for the model to load...")
  local model = wait_for("ready model", TIMEOUT_MS, function()
    local model = vim.tbl_get(execute(client, "finch.status"), "result", "model")
    if model and model.state == "failed" then
      fail("the model did not load: " .. format.value(model.error))
    end
    return model and model.state == "ready" and model
  end)
  say(("model %s ready on %s"):format(model.name, model.device))
end

--- textDocument/completion at the end of the buffer, after a typed space (a trigger character).
local function request_menu(client, bufnr)
  local row = vim.api.nvim_buf_line_count(bufnr) - 1
  local line = vim.api.nvim_buf_get_lines(bufnr, row, row + 1, true)[1]
  local params = {
    textDocument = { uri = vim.uri_from_bufnr(bufnr) },
    position = { line = row, character = vim.str_utfindex(line, client.offset_encoding) },
    context = { triggerKind = 2, triggerCharacter = " " },
  }
  local reply
  client:request("textDocument/completion", params, function(err, result) reply = { err = err, result = result } end, bufnr)
  reply = wait_for("completion reply", TIMEOUT_MS, function() return reply end)
  if reply.err then
    fail("textDocument/completion: " .. reply.err.message)
  end
  local items = vim.tbl_filter(require("finch.completion").is_suggestion, (reply.result or {}).items or {})
  return items[1], line
end

--- Print the menu row and its preview as the user sees them; the complete-item.
local function show_menu(client, bufnr)
  local item, line = request_menu(client, bufnr)
  if not item then
    say("no suggestion this time (the model produced nothing usable here)")
    return nil
  end
  local entry = require("finch.completion").menu_entry(item, client.id)
  local start = vim.str_byteindex(line, client.offset_encoding, item.textEdit.range.start.character, false)
  say("completion menu (display = \"menu\"; by default the same text shows as ghost text):", ("> %s   %s"):format(entry.abbr, entry.menu))
  if entry.info ~= entry.word then
    say("preview of the whole suggestion:", unpack(vim.split(entry.info, "\n", { plain = true })))
  end
  return entry, start + 1
end

--- Open the menu at the end of the buffer in Insert mode and accept it with <C-y>, as a user would.
local function accept_with_ctrl_y(bufnr, entry, start_col)
  vim.api.nvim_set_current_buf(bufnr)
  vim.api.nvim_win_set_cursor(0, { vim.api.nvim_buf_line_count(bufnr), 0 })
  _G.finch_demo_menu = function()
    vim.fn.complete(start_col, { entry })
    return ""
  end
  vim.api.nvim_feedkeys(vim.keycode("A<C-r>=v:lua.finch_demo_menu()<CR><C-y><Esc>"), "x", false)
end

local function wait_accepted(client, bufnr, id)
  wait_for("recorded acceptance", 30000, function()
    local last = vim.tbl_get(execute(client, "finch.status"), "result", "lastSuggestion")
    return type(last) == "table" and last.id == id and last.accepted
  end)
  say("<C-y> accepted it; the server recorded finch.accept " .. id .. "; the buffer now reads:",
    unpack(vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)))
end

--- Rate the suggestion `id` (the one just shown: "the last suggestion" would be the accepted one).
local function rate_with_correction(client, lesson, id)
  say(("rating it critical with the correction %q and the note %q"):format(lesson.correction, lesson.note))
  local feedback = { rating = "critical", correction = lesson.correction, note = lesson.note, suggestionId = id }
  local reply = execute(client, "finch.feedback", { feedback })
  if reply.err then
    fail("finch.feedback: " .. reply.err.message)
  end
  say(format.feedback(reply.result))
end

local NOTICES = { "is active", "not activated", "training failed" }

--- The first server message after `seen` that says how training ended.
local function training_notice(seen)
  for i = seen + 1, #messages do
    for _, words in ipairs(NOTICES) do
      if messages[i]:find(words, 1, true) then
        return messages[i]
      end
    end
  end
end

--- :FinchTrain, then wait for the notice that the new adapter is active (or why not).
--- @return boolean activated
local function train()
  say(":FinchTrain")
  local seen = #messages
  vim.cmd("FinchTrain")
  local notice = wait_for("notice about the new adapter", TIMEOUT_MS, function() return training_notice(seen) end)
  return notice:find("is active", 1, true) ~= nil
end

local function stop(client)
  client:stop()
  vim.wait(5000, function() return client:is_stopped() end, 50)
end

local function main()
  capture_messages()
  -- The transcript shows the menu (display = "menu"): its rows print as text, ghost text does not.
  require("finch").setup({ cmd = vim.json.decode(env.FINCH_SERVER_CMD or '["finch-lsp"]'), settings = settings(),
    progress = false, display = "menu" })
  say(("Neovim %s with editors/nvim; server: %s"):format(tostring(vim.version()), env.FINCH_SERVER_CMD or "finch-lsp"))
  local bufnr, client = open_file("lesson_1.py", vim.split(LESSONS[1].prompt, "\n", { plain = true }))
  wait_until_ready(client)
  say("before learning, on new code:")
  for i, prompt in ipairs(NEW_PROMPTS) do
    show_menu(client, open_file(("new_%d.py"):format(i), vim.split(prompt, "\n", { plain = true })))
  end
  for i, lesson in ipairs(LESSONS) do
    if i > 1 then
      bufnr = open_file(("lesson_%d.py"):format(i), vim.split(lesson.prompt, "\n", { plain = true }))
    end
    local entry, start_col = show_menu(client, bufnr)
    if not entry then
      fail(("lesson %d got no suggestion to rate"):format(i))
    end
    local id = entry.user_data.finch.command.arguments[1]
    if i == 1 then
      accept_with_ctrl_y(bufnr, entry, start_col)
      wait_accepted(client, bufnr, id)
    end
    rate_with_correction(client, lesson, id)
  end
  local activated = train()
  say("after the hot swap, on the same new code:")
  for i, prompt in ipairs(NEW_PROMPTS) do
    show_menu(client, open_file(("after_%d.py"):format(i), vim.split(prompt, "\n", { plain = true })))
  end
  say(":FinchStatus")
  say(unpack(format.status(execute(client, "finch.status").result)))
  stop(client)
  if not activated then
    fail("the new adapter was not activated (see the message above)")
  end
  say("done")
  os.exit(0)
end

main()
