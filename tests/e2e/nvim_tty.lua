-- Loaded by a real terminal Neovim (tests/e2e/test_nvim_tty.py runs it in a pseudo-terminal,
-- where a hit-enter prompt really stops the user). It sets finch up and writes events as JSON
-- lines to $FINCH_TEST_EVENTS: every notice finch shows, and the editor's state (mode, line,
-- ghost text, model, last suggestion) whenever it changes. The keys come from the terminal.
-- Environment: FINCH_SERVER_CMD (JSON list), FINCH_TEST_MODEL.

local repo = vim.fs.dirname(vim.fs.dirname(vim.fs.dirname(vim.fs.abspath(debug.getinfo(1, "S").source:sub(2)))))
vim.opt.runtimepath:prepend(repo .. "/editors/nvim")

local events = assert(io.open(assert(vim.env.FINCH_TEST_EVENTS, "FINCH_TEST_EVENTS is not set"), "a"))
local function event(kind, data)
  events:write(vim.json.encode({ kind = kind, data = data }), "\n")
  events:flush()
end

local notice = require("finch.notice")
local notify = notice.notify
notice.notify = function(message, level)
  notify(message, level)
  if not vim.in_fast_event() then
    event("notice", { message = message, level = level, builtin = notice.is_builtin_notify() })
  end
end

require("finch").setup({
  cmd = vim.json.decode(vim.env.FINCH_SERVER_CMD),
  settings = { model = vim.env.FINCH_TEST_MODEL or "smollm2-135m", completion = { maxNewTokens = 12 },
    training = { autoTrain = false } },
  root_markers = { "pyproject.toml" },
})

--- The server's status, asked now and then (a request in flight is not asked again).
local status, asking = nil, false
local function ask_status()
  local client = require("finch.client").get(0)
  if asking or not client or not client.initialized then
    return
  end
  asking = true
  client:request("workspace/executeCommand", { command = "finch.status", arguments = {} }, function(_, result)
    asking, status = false, result
  end, 0)
end

local last
local timer = vim.uv.new_timer()
local ticks = 0
timer:start(100, 100, vim.schedule_wrap(function()
  ticks = ticks + 1
  if ticks % 5 == 0 then
    ask_status()
  end
  local bufnr = vim.api.nvim_get_current_buf()
  local shown = require("finch.ghost").shown(bufnr)
  local state = {
    mode = vim.api.nvim_get_mode().mode,
    line = vim.api.nvim_get_current_line(),
    lines = vim.api.nvim_buf_get_lines(bufnr, 0, -1, false),
    ghost = shown and shown.text or vim.NIL,
    model = status and vim.tbl_get(status, "model", "state") or vim.NIL,
    accepted = status and vim.tbl_get(status, "lastSuggestion", "accepted") or false,
  }
  local encoded = vim.json.encode(state)
  if encoded ~= last then
    last = encoded
    event("state", state)
  end
end))
