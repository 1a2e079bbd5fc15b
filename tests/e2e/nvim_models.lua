-- :FinchModels, :FinchPull NAME and :FinchModel against tests/e2e/fake_models_server.py over
-- stdio (the contract of finch.models.list / finch.models.pull, $/progress and showMessage).
-- `nvim --clean --headless -u tests/e2e/nvim_models.lua` with FINCH_FAKE_SERVER_CMD (JSON list)
-- and FINCH_TEST_RESULT.

local H = dofile(vim.fs.joinpath(vim.fs.dirname(vim.fs.abspath(debug.getinfo(1, "S").source:sub(2))), "nvim_harness.lua"))
local eq, ok = H.eq, H.ok

local notice = require("finch.notice")

--- Everything the plugin told the user: notices (history) and transient progress lines.
local told = {}
local notify, transient = notice.notify, notice.transient
notice.notify = function(message, level)
  told[#told + 1] = { kind = "notice", message = message, level = level }
  return notify(message, level)
end
notice.transient = function(text)
  told[#told + 1] = { kind = "transient", message = text }
  return transient(text)
end

local function told_since(from, pattern)
  for i = from, #told do
    if told[i].message:find(pattern, 1, true) then
      return told[i]
    end
  end
end

local function execute(command)
  local reply
  require("finch.client").get(0):request("workspace/executeCommand", { command = command, arguments = {} },
    function(err, res) reply = { err = err, result = res } end, 0)
  return H.wait_for(command, 10000, function() return reply end)
end

H.test("the fake server is attached", function()
  vim.cmd.edit(vim.fn.fnameescape(vim.fn.tempname() .. ".py"))
  H.wait_for("the finch client", 20000, function()
    local c = require("finch.client").get(0)
    return c and c.initialized
  end)
end)

H.test(":FinchPull and :FinchModel complete the known names", function()
  eq({ "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b" }, vim.fn.getcompletion("FinchPull qwen", "cmdline"),
    ":FinchPull from finch.models.list")
  local names = vim.fn.getcompletion("FinchModel ", "cmdline")
  eq("auto", names[1], ":FinchModel offers auto first")
  for _, name in ipairs({ "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b", "qwen2.5-coder-3b", "smollm2-135m", "tiny-qwen2" }) do
    ok(vim.tbl_contains(names, name), name .. " offered by :FinchModel: " .. vim.inspect(names))
  end
end)

H.test(":FinchPull NAME shows the download's progress and the message when done", function()
  local from = #told + 1
  vim.cmd("FinchPull qwen2.5-coder-0.5b")
  local started = H.wait_for("the answer to :FinchPull", 10000, function() return told_since(from, "finch: downloading qwen2.5-coder-0.5b;") end)
  eq(vim.log.levels.INFO, started.level, "started: info")
  local report = H.wait_for("a progress report", 10000, function() return told_since(from, "MB of 988 MB") end)
  eq("transient", report.kind, "reports replace each other on the command line")
  ok(report.message:find("^finch: downloading qwen2.5%-coder%-0.5b: %d+ MB of 988 MB %(%d+%%%)$"), report.message)
  H.wait_for("the end of the progress", 10000, function()
    return told_since(from, "finch: downloading qwen2.5-coder-0.5b: qwen2.5-coder-0.5b downloaded")
  end)
  local done = H.wait_for("the server's message", 10000, function() return told_since(from, "finch: qwen2.5-coder-0.5b downloaded; set") end)
  eq("notice", done.kind, "the message goes to the history")
  local history = vim.api.nvim_exec2("messages", { output = true }).output
  ok(history:find("finch: qwen2.5-coder-0.5b downloaded; set the model setting to qwen2.5-coder-0.5b to use it", 1, true), history)
end)

H.test(":FinchPull of an unknown name says why", function()
  local from = #told + 1
  vim.cmd("FinchPull no-such-model")
  local answer = H.wait_for("the refusal", 10000, function() return told_since(from, "no-such-model is not downloading") end)
  eq(vim.log.levels.WARN, answer.level, "a warning")
  ok(answer.message:find("unknown model 'no-such-model'", 1, true), answer.message)
end)

H.test(":FinchModels lists the models; picking one downloads it or sets the model", function()
  local shown, pick = nil, nil
  local select = vim.ui.select
  vim.ui.select = function(items, opts, on_choice)
    shown = vim.tbl_map(opts.format_item, items)
    for _, model in ipairs(items) do
      if model.name == pick then
        return on_choice(model)
      end
    end
    on_choice(nil)
  end
  pick = "qwen2.5-coder-1.5b"
  vim.cmd("FinchModels")
  H.wait_for("the pull of the picked model", 10000, function()
    return vim.tbl_contains(execute("finch.status").result.pulls or {}, "qwen2.5-coder-1.5b")
  end)
  eq("qwen2.5-coder-1.5b  3.1 GB on disk, needs 6.0 GB RAM or 4.0 GB GPU memory, not downloaded  "
    .. "(auto picks it: 8-16 GB of memory on this machine)", shown[2], "a row with sizes, memory and why auto picks it")
  eq("smollm2-135m  270 MB on disk, needs 600 MB RAM or 400 MB GPU memory, downloaded  [active]", shown[3], "the active one")
  local from = #told + 1
  pick = "qwen2.5-coder-0.5b" -- downloaded by the test before
  vim.cmd("FinchModels")
  H.wait_for("the model set", 10000, function() return told_since(from, "finch: model set to qwen2.5-coder-0.5b") end)
  eq("qwen2.5-coder-0.5b", require("finch").options.settings.model, "the model setting")
  vim.ui.select = select
end)

H.run(function()
  require("finch").setup({ cmd = vim.json.decode(vim.env.FINCH_FAKE_SERVER_CMD), filetypes = { "python" }, root_markers = {} })
end)
