-- Headless Neovim as a finch user (with display = "menu", the 0.11 fallback): open a file,
-- take a completion from the menu, accept it,
-- rate it with :FinchCritical, and write what happened to $FINCH_TEST_RESULT as JSON.
-- Loaded with `nvim --clean --headless -u tests/e2e/nvim_flow.lua`; every wait is bounded.

local env = vim.env
local repo = vim.fs.dirname(vim.fs.dirname(vim.fs.dirname(vim.fs.abspath(debug.getinfo(1, "S").source:sub(2)))))
vim.opt.runtimepath:prepend(repo .. "/editors/nvim")
vim.opt.packpath:prepend(repo .. "/editors/nvim")

local result = { steps = {}, notifications = {} }

--- Every message the user would see, in order.
local notify = vim.notify
vim.notify = function(message, level, opts)
  table.insert(result.notifications, { message = message, level = level or vim.log.levels.INFO })
  return notify(message, level, opts)
end

require("finch").setup({
  cmd = vim.json.decode(env.FINCH_SERVER_CMD),
  settings = { model = "tiny-qwen2", completion = { maxNewTokens = 12 } },
  root_markers = { "pyproject.toml" },
  display = "menu", -- this flow is the 0.11 menu fallback; tests/e2e/nvim_ghost.lua covers ghost text
})

local function step(name)
  table.insert(result.steps, { name = name, at = vim.uv.hrtime() / 1e9 })
end

local function finish(err)
  result.error = err
  local file = assert(io.open(env.FINCH_TEST_RESULT, "w"))
  file:write(vim.json.encode(result))
  file:close()
  vim.cmd("qall!")
end

--- Yield until `predicate()` is truthy; error with `what` after `timeout_ms`.
local function wait_for(what, timeout_ms, predicate)
  local deadline = vim.uv.now() + timeout_ms
  local co = coroutine.running()
  while true do
    local value = predicate()
    if value then
      return value
    end
    if vim.uv.now() > deadline then
      error(("timed out after %d ms waiting for %s"):format(timeout_ms, what), 0)
    end
    vim.defer_fn(function() coroutine.resume(co) end, 20)
    coroutine.yield()
  end
end

--- A server command's result, through the client the plugin started.
local function execute(command, arguments)
  local reply
  local client = require("finch.client").get(0)
  client:request("workspace/executeCommand", { command = command, arguments = arguments or {} }, function(err, res)
    reply = { err = err, result = res }
  end, 0)
  wait_for(command, 10000, function() return reply end)
  return reply
end

local function feed(keys)
  vim.api.nvim_feedkeys(vim.keycode(keys), "t", false)
end

local function finch_item()
  for _, item in ipairs(vim.fn.complete_info({ "items" }).items or {}) do
    if type(item.user_data) == "table" and item.user_data.finch then
      return item
    end
  end
end

local function run()
  vim.cmd.edit(vim.fn.fnameescape(env.FINCH_TEST_FILE))
  local bufnr = vim.api.nvim_get_current_buf()
  result.filetype = vim.bo[bufnr].filetype
  local client = wait_for("the finch client to attach", 15000, function()
    local c = require("finch.client").get(bufnr)
    return c and c.initialized and c
  end)
  step("attached")
  result.root_dir = client.root_dir
  result.has_inline = require("finch.completion").has_inline()
  result.status = wait_for("finch.status model.state == ready", 60000, function()
    local reply = execute("finch.status")
    local state = vim.tbl_get(reply, "result", "model", "state")
    if state == "failed" then
      error("the model failed to load: " .. vim.inspect(reply.result.model), 0)
    end
    return state == "ready" and reply.result
  end)
  step("ready")

  -- Nothing was suggested yet: the server refuses, and the user is told why.
  local count = #result.notifications
  vim.cmd("FinchGood")
  result.no_suggestion_message = wait_for("the error from :FinchGood", 10000, function()
    return result.notifications[count + 1]
  end)

  -- Type a space at the end of `    return`: a trigger character, so the menu opens by itself.
  vim.api.nvim_win_set_cursor(0, { vim.api.nvim_buf_line_count(bufnr), 0 })
  feed("A ")
  local item = wait_for("a finch item in the completion menu", 20000, finch_item)
  step("menu")
  result.menu_item = { word = item.word, abbr = item.abbr, menu = item.menu, info = item.info, finch = item.user_data.finch }
  result.pumvisible = vim.fn.pumvisible()

  feed("<C-y>")
  local id = item.user_data.finch.command.arguments[1]
  result.accepted_status = wait_for("finch.status to show the suggestion accepted", 10000, function()
    local last = vim.tbl_get(execute("finch.status"), "result", "lastSuggestion")
    return type(last) == "table" and last.id == id and last.accepted and last
  end)
  step("accepted")
  result.buffer = table.concat(vim.api.nvim_buf_get_lines(bufnr, 0, -1, false), "\n")
  feed("<Esc>")
  wait_for("normal mode", 2000, function() return vim.api.nvim_get_mode().mode == "n" end)

  local before = #result.notifications
  vim.cmd("FinchCritical some note")
  local message = wait_for("the answer to :FinchCritical", 10000, function()
    return result.notifications[before + 1]
  end)
  result.feedback_message = message
  step("rated")

  vim.cmd("messages clear")
  vim.cmd("FinchStatus")
  result.status_echo = wait_for("the :FinchStatus text", 10000, function()
    local messages = vim.api.nvim_exec2("messages", { output = true }).output
    return messages:find("finch status", 1, true) and messages
  end)
  before = #result.notifications
  vim.cmd("FinchTrain")
  result.train_message = wait_for("the answer to :FinchTrain", 10000, function()
    return result.notifications[before + 1]
  end)
end

vim.api.nvim_create_autocmd("VimEnter", {
  once = true,
  callback = function()
    local co = coroutine.create(function()
      local ok, err = xpcall(run, debug.traceback)
      finish(not ok and tostring(err) or nil)
    end)
    vim.schedule(function() coroutine.resume(co) end) -- outside VimEnter, so :edit runs its autocommands
  end,
})
-- A last resort: never outlive the test.
vim.defer_fn(function() finish("the whole flow took longer than 100 s") end, 100000)
