-- Shared by the Neovim test scripts: named tests run one after another inside the main loop
-- (so typed keys, timers and LSP callbacks run as they do for a user), waits on conditions,
-- and a JSON report {tests = {name: "ok" | error}, facts = H.facts} written to $FINCH_TEST_RESULT
-- (facts: what a test saw, for the Python side to check further).
--
--   local H = dofile(vim.fs.joinpath(vim.fs.dirname(this_file), "nvim_harness.lua"))
--   H.test("name", function() ... end)
--   H.run()

local H = {}

H.repo = vim.fs.dirname(vim.fs.dirname(vim.fs.dirname(vim.fs.abspath(debug.getinfo(1, "S").source:sub(2)))))
vim.opt.runtimepath:prepend(H.repo .. "/editors/nvim")

local tests = {}

--- What the tests saw, reported beside their results.
H.facts = {}

--- Register a test; `fn` may wait (it runs in a coroutine).
--- @param name string
--- @param fn fun()
function H.test(name, fn)
  tests[#tests + 1] = { name = name, fn = fn }
end

--- Fail the running test unless `expected` and `actual` are deeply equal.
function H.eq(expected, actual, what)
  if not vim.deep_equal(expected, actual) then
    error(("%s\n  expected: %s\n  actual:   %s"):format(what, vim.inspect(expected), vim.inspect(actual)), 2)
  end
end

--- Fail the running test unless `value` is truthy.
function H.ok(value, what)
  if not value then
    error(what, 2)
  end
  return value
end

--- Yield to the main loop until `predicate()` is truthy; error with `what` after `timeout_ms`.
function H.wait_for(what, timeout_ms, predicate)
  local deadline = vim.uv.now() + timeout_ms
  local co = coroutine.running()
  while true do
    local value = predicate()
    if value then
      return value
    end
    if vim.uv.now() > deadline then
      error(("timed out after %d ms waiting for %s"):format(timeout_ms, what), 2)
    end
    vim.defer_fn(function() coroutine.resume(co) end, 20)
    coroutine.yield()
  end
end

--- Let the main loop run until typed keys are processed and `ms` passed (for "nothing
--- happens" checks, which have no event to wait on).
function H.settle(ms)
  local co = coroutine.running()
  vim.defer_fn(function() coroutine.resume(co) end, ms)
  coroutine.yield()
end

--- Type `keys` as the user would (mappings apply).
function H.feed(keys)
  vim.api.nvim_feedkeys(vim.keycode(keys), "t", false)
end

--- Wait until Neovim is in a mode starting with `mode` ("i", "n").
function H.wait_mode(mode)
  H.wait_for("mode " .. mode, 5000, function() return vim.startswith(vim.api.nvim_get_mode().mode, mode) end)
end

--- The buffer's lines.
function H.lines(bufnr)
  return vim.api.nvim_buf_get_lines(bufnr or 0, 0, -1, false)
end

--- Run every registered test, write the report, quit.
--- @param before? fun() runs first, in the coroutine
function H.run(before)
  local report = {}
  local function finish()
    local file = assert(io.open(assert(vim.env.FINCH_TEST_RESULT, "FINCH_TEST_RESULT is not set"), "w"))
    file:write(vim.json.encode({ tests = report, facts = H.facts }))
    file:close()
    vim.cmd("qall!")
  end
  vim.api.nvim_create_autocmd("VimEnter", {
    once = true,
    callback = function()
      local co = coroutine.create(function()
        if before then
          local ok, err = xpcall(before, debug.traceback)
          if not ok then
            report["(setup)"] = tostring(err)
          end
        end
        for _, t in ipairs(tests) do
          if vim.api.nvim_get_mode().mode ~= "n" then
            vim.cmd.stopinsert()
            H.wait_mode("n")
          end
          local ok, err = xpcall(t.fn, debug.traceback)
          report[t.name] = ok and "ok" or tostring(err)
        end
        finish()
      end)
      vim.schedule(function() coroutine.resume(co) end)
    end,
  })
  local limit = tonumber(vim.env.FINCH_TEST_LIMIT_S or "240") * 1000
  vim.defer_fn(function()
    report["(limit)"] = ("the tests took longer than %d s"):format(limit / 1000)
    finish()
  end, limit)
end

return H
