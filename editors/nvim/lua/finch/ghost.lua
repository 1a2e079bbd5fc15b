--- Ghost text on Neovim 0.11, which has no inline completion of its own.
---
--- After the user pauses typing in Insert mode (a debounce, so also after <CR> and the
--- indentation it brings), finch asks the server for `textDocument/inlineCompletion` and
--- draws the first item as virtual text: its first line inline at the cursor, the others as
--- virtual lines below. Typing what the suggestion says keeps the rest shown; any other
--- change or cursor move clears it. Accepting inserts the text and then sends the item's
--- command, `finch.accept`, once the whole suggestion is in the buffer.

local text_util = require("finch.ghost_text")

local M = {}

M.namespace = vim.api.nvim_create_namespace("finch.ghost")
M.HIGHLIGHT = "FinchSuggestion"

local AUTOMATIC, INVOKED = 2, 1

--- @class finch.Shown
--- @field row integer 0-based row of the cursor it is shown at
--- @field col integer 0-based byte column
--- @field text string what accepting would still insert
--- @field command lsp.Command?
--- @field client_id integer

--- @class finch.GhostState
--- @field bufnr integer
--- @field client_id integer
--- @field debounce_ms integer
--- @field timer uv.uv_timer_t?
--- @field pending integer? id of the request in flight
--- @field shown finch.Shown?

--- @type table<integer, finch.GhostState>
local states = {}

--- The state of `bufnr`, if finch shows ghost text there.
--- @param bufnr integer
--- @return finch.GhostState?
function M.state(bufnr)
  return states[bufnr == 0 and vim.api.nvim_get_current_buf() or bufnr]
end

--- The suggestion shown in `bufnr`, if any: {row, col, text, command, client_id}.
--- @param bufnr integer
--- @return finch.Shown?
function M.shown(bufnr)
  local state = M.state(bufnr)
  return state and state.shown
end

--- `FinchSuggestion`, linked to Comment unless the user set it; again after a colorscheme.
function M.define_highlight()
  vim.api.nvim_set_hl(0, M.HIGHLIGHT, { link = "Comment", default = true })
  vim.api.nvim_create_autocmd("ColorScheme", {
    group = vim.api.nvim_create_augroup("finch.ghost.highlight", { clear = true }),
    desc = "finch: define FinchSuggestion again",
    callback = function() vim.api.nvim_set_hl(0, M.HIGHLIGHT, { link = "Comment", default = true }) end,
  })
end

--- @param state finch.GhostState
local function stop_timer(state)
  if state.timer then
    state.timer:stop()
  end
end

--- @param state finch.GhostState
local function cancel_pending(state)
  local client = state.pending and vim.lsp.get_client_by_id(state.client_id)
  if client then
    client:cancel_request(state.pending)
  end
  state.pending = nil
end

--- Remove what is drawn; keep timers and requests.
--- @param state finch.GhostState
local function hide(state)
  state.shown = nil
  if vim.api.nvim_buf_is_valid(state.bufnr) then
    vim.api.nvim_buf_clear_namespace(state.bufnr, M.namespace, 0, -1)
  end
end

--- Clear the suggestion, the debounce timer and the request in flight.
--- @param state finch.GhostState
local function clear(state)
  stop_timer(state)
  cancel_pending(state)
  hide(state)
end

--- Draw `state.shown` at its position.
--- @param state finch.GhostState
local function draw(state)
  local shown = assert(state.shown)
  vim.api.nvim_buf_clear_namespace(state.bufnr, M.namespace, 0, -1)
  local line = vim.api.nvim_buf_get_lines(state.bufnr, shown.row, shown.row + 1, true)[1]
  local first_col = vim.fn.strdisplaywidth(line:sub(1, shown.col))
  local lines = text_util.display_lines(shown.text, vim.bo[state.bufnr].tabstop, first_col)
  local virt_lines = {}
  for i = 2, #lines do
    virt_lines[#virt_lines + 1] = { { lines[i], M.HIGHLIGHT } }
  end
  vim.api.nvim_buf_set_extmark(state.bufnr, M.namespace, shown.row, shown.col, {
    virt_text = lines[1] ~= "" and { { lines[1], M.HIGHLIGHT } } or nil,
    virt_text_pos = "inline",
    virt_lines = #virt_lines > 0 and virt_lines or nil,
    hl_mode = "combine",
  })
end

--- The cursor of the current window as (0-based row, byte col), if it shows `bufnr`.
--- @param bufnr integer
--- @return integer?, integer?
local function cursor_in(bufnr)
  if vim.api.nvim_get_current_buf() ~= bufnr then
    return nil
  end
  local row, col = unpack(vim.api.nvim_win_get_cursor(0))
  return row - 1, col
end

--- @return boolean
local function in_insert_mode()
  return vim.startswith(vim.api.nvim_get_mode().mode, "i")
end

--- Show the first usable item of an inlineCompletion answer, if the buffer is as it was.
--- @param state finch.GhostState
--- @param client vim.lsp.Client
--- @param asked {tick: integer, row: integer, col: integer}
--- @param result any
local function on_result(state, client, asked, result)
  local row, col = cursor_in(state.bufnr)
  if row ~= asked.row or col ~= asked.col or not in_insert_mode()
    or vim.api.nvim_buf_get_changedtick(state.bufnr) ~= asked.tick then
    return -- the user moved on; the next pause asks again
  end
  local items = type(result) == "table" and (result.items or result) or {}
  local line = vim.api.nvim_buf_get_lines(state.bufnr, row, row + 1, true)[1]
  for _, item in ipairs(items) do
    local text = type(item.insertText) == "table" and item.insertText.value or item.insertText
    local start = item.range and item.range.start
    local start_col = col
    if start and start.line == row then
      start_col = vim.str_byteindex(line, client.offset_encoding, start.character, false)
    end
    local rest = type(text) == "string" and (not start or start.line == row)
      and text_util.remaining(text, line, start_col, col)
    if rest and rest ~= "" then
      state.shown = { row = row, col = col, text = rest, command = item.command, client_id = client.id }
      draw(state)
      return
    end
  end
end

--- Ask the server now for a suggestion at the cursor.
--- @param state finch.GhostState
--- @param kind integer InlineCompletionTriggerKind
local function request(state, kind)
  local client = vim.lsp.get_client_by_id(state.client_id)
  local row, col = cursor_in(state.bufnr)
  if not client or not row or not in_insert_mode() then
    return
  end
  cancel_pending(state)
  local params = vim.lsp.util.make_position_params(0, client.offset_encoding)
  params.context = { triggerKind = kind }
  local asked = { tick = vim.api.nvim_buf_get_changedtick(state.bufnr), row = row, col = col }
  local id
  local ok, request_id = client:request("textDocument/inlineCompletion", params, function(err, result)
    if state.pending == id then
      state.pending = nil
    end
    if not err and states[state.bufnr] == state then
      on_result(state, client, asked, result)
    end
  end, state.bufnr)
  if ok then
    id = request_id
    state.pending = request_id
  end
end

--- Ask after `debounce_ms` without further typing.
--- @param state finch.GhostState
local function schedule(state)
  state.timer = state.timer or vim.uv.new_timer()
  state.timer:stop()
  state.timer:start(state.debounce_ms, 0, vim.schedule_wrap(function()
    if states[state.bufnr] == state then
      request(state, AUTOMATIC)
    end
  end))
end

--- After a cursor move or a change: keep the rest of the suggestion when the user typed
--- what it says, else clear it.
--- @param state finch.GhostState
local function follow(state)
  local shown = state.shown
  if not shown then
    return
  end
  local row, col = cursor_in(state.bufnr)
  local line = row == shown.row and vim.api.nvim_buf_get_lines(state.bufnr, row, row + 1, true)[1]
  local rest = line and text_util.remaining(shown.text, line, shown.col, col)
  if not rest or rest == "" then
    hide(state)
  elseif rest ~= shown.text then
    shown.text, shown.col = rest, col
    draw(state)
  end
end

--- Run the item's `finch.accept` (the request sends the pending didChange first).
--- @param shown finch.Shown
--- @param bufnr integer
local function run_accept(shown, bufnr)
  local client = vim.lsp.get_client_by_id(shown.client_id)
  if client and shown.command then
    client:exec_cmd(shown.command, { bufnr = bufnr })
  end
end

--- Insert the suggestion shown in `bufnr`, or its next word or line.
--- `finch.accept` is sent once the whole suggestion is in the buffer.
--- @param bufnr integer
--- @param part? "word"|"line" nil: all of it
--- @return boolean accepted false when nothing was shown
function M.accept(bufnr, part)
  local state = M.state(bufnr)
  local shown = state and state.shown
  if not state or not shown then
    return false
  end
  clear(state)
  local piece = text_util.piece(shown.text, part)
  local lines = vim.split(piece, "\n", { plain = true })
  vim.api.nvim_buf_set_text(state.bufnr, shown.row, shown.col, shown.row, shown.col, lines)
  local row, col = text_util.end_position(shown.row, shown.col, lines)
  vim.api.nvim_win_set_cursor(0, { row + 1, col })
  local rest = shown.text:sub(#piece + 1)
  if rest == "" then
    run_accept(shown, state.bufnr)
  else
    state.shown = { row = row, col = col, text = rest, command = shown.command, client_id = shown.client_id }
    draw(state)
  end
  return true
end

--- Clear the suggestion shown in `bufnr`; false when there was none.
--- @param bufnr integer
--- @return boolean
function M.dismiss(bufnr)
  local state = M.state(bufnr)
  if not state or not state.shown then
    return false
  end
  clear(state)
  return true
end

--- Ask for a suggestion now, without waiting for a pause.
--- @param bufnr integer
--- @return boolean
function M.suggest(bufnr)
  local state = M.state(bufnr)
  if not state then
    return false
  end
  stop_timer(state)
  request(state, INVOKED)
  return true
end

--- Stop showing ghost text in `bufnr`.
--- @param bufnr integer
function M.detach(bufnr)
  local state = states[bufnr]
  if not state then
    return
  end
  clear(state)
  if state.timer and not state.timer:is_closing() then
    state.timer:close()
  end
  states[bufnr] = nil
  pcall(vim.api.nvim_del_augroup_by_name, ("finch.ghost.%d"):format(bufnr))
end

--- Show ghost text from `client` in `bufnr`.
--- @param client vim.lsp.Client
--- @param bufnr integer
--- @param options finch.Options
function M.attach(client, bufnr, options)
  M.detach(bufnr)
  M.define_highlight()
  local state = { bufnr = bufnr, client_id = client.id, debounce_ms = options.debounce_ms }
  states[bufnr] = state
  local group = vim.api.nvim_create_augroup(("finch.ghost.%d"):format(bufnr), { clear = true })
  local function on(events, desc, callback)
    vim.api.nvim_create_autocmd(events, { group = group, buffer = bufnr, desc = desc, callback = callback })
  end
  on("InsertEnter", "finch: ask for a suggestion after a pause", function() schedule(state) end)
  on({ "TextChangedI", "TextChangedP" }, "finch: follow the suggestion, or ask after a pause", function()
    follow(state)
    if not state.shown then
      schedule(state)
    end
  end)
  on("CursorMovedI", "finch: clear the suggestion when the cursor leaves it", function() follow(state) end)
  on({ "InsertLeave", "BufLeave" }, "finch: clear the suggestion", function() clear(state) end)
  on("LspDetach", "finch: stop ghost text", function(args)
    if args.data and args.data.client_id == state.client_id then
      M.detach(bufnr)
    end
  end)
  on("BufWipeout", "finch: stop ghost text", function() M.detach(bufnr) end)
end

return M
