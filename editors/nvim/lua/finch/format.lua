--- Pure formatting of server results into what the user reads. No editor state here.

local M = {}

--- `value` as short text: numbers without needless decimals, tables as `key=value` pairs.
--- @param value any
--- @return string
function M.value(value)
  if value == nil or value == vim.NIL then
    return "-"
  elseif type(value) == "number" then
    return value == math.floor(value) and tostring(value) or ("%.3f"):format(value)
  elseif type(value) == "boolean" then
    return value and "yes" or "no"
  elseif type(value) == "table" then
    local parts = {}
    for key, item in vim.spairs(value) do
      parts[#parts + 1] = type(key) == "number" and M.value(item) or (key .. "=" .. M.value(item))
    end
    return table.concat(parts, ", ")
  end
  return tostring(value)
end

--- "1 example", "3 examples".
--- @param count any
--- @param noun string
--- @return string
function M.count(count, noun)
  return ("%s %s%s"):format(M.value(count), noun, count == 1 and "" or "s")
end

--- The one-line answer to `finch.feedback*`.
--- @param result table {rating, weight, pending, bufferSize, weightedTotal, trainingStarted}
--- @return string
function M.feedback(result)
  local parts = {
    ("%s feedback recorded: weight %s"):format(result.rating or "?", M.value(result.weight)),
    result.pending and "waiting for a correction" or "ready for training",
    ("buffer %s (weighted %s)"):format(M.count(result.bufferSize, "example"), M.value(result.weightedTotal)),
  }
  if result.trainingStarted then
    parts[#parts + 1] = "training started"
  end
  return "finch: " .. table.concat(parts, ", ")
end

--- An adapter version as the server names it: `v0003`.
--- @param version any
--- @return string
function M.version(version)
  return type(version) == "number" and ("v%04d"):format(version) or ("v" .. M.value(version))
end

--- Trainer progress `{epoch, epochs, step, steps, loss}` as "epoch 2/3, step 5/8, loss 0.981".
--- @param progress any
--- @return string
function M.training_progress(progress)
  if type(progress) ~= "table" or progress.epoch == nil then
    return M.value(progress)
  end
  return ("epoch %s/%s, step %s/%s, loss %s"):format(M.value(progress.epoch), M.value(progress.epochs),
    M.value(progress.step), M.value(progress.steps), M.value(progress.loss))
end

--- The answer to `finch.train`.
--- @param result table {started, reason?}
--- @return string
function M.train(result)
  if result.started then
    return "finch: training started"
  end
  return "finch: training not started: " .. M.value(result.reason)
end

--- @param model table?
--- @return string
local function model_line(model)
  model = model or {}
  local line = ("%s on %s, %s"):format(M.value(model.name), M.value(model.device), M.value(model.state))
  if model.error and model.error ~= vim.NIL then
    line = line .. ": " .. M.value(model.error)
  end
  return line
end

--- @param adapter table?
--- @return string
local function adapter_line(adapter)
  if not adapter or adapter.version == nil or adapter.version == vim.NIL then
    return "none (base model)"
  end
  return ("%s (%s, final loss %s)"):format(
    M.version(adapter.version), M.count(adapter.examples, "example"), M.value(adapter.finalLoss))
end

--- @param buffer table?
--- @return string
local function buffer_line(buffer)
  buffer = buffer or {}
  return ("%s, weighted %s, %s waiting for a correction"):format(
    M.count(buffer.examples, "example"), M.value(buffer.weighted), M.value(buffer.pending))
end

--- @param training table?
--- @return string
local function training_line(training)
  training = training or {}
  local line = M.value(training.state or "idle")
  if training.progress ~= nil and training.progress ~= vim.NIL then
    line = line .. ": " .. M.training_progress(training.progress)
  end
  if training.lastError ~= nil and training.lastError ~= vim.NIL then
    line = line .. " (last error: " .. M.value(training.lastError) .. ")"
  end
  return line
end

--- @param suggestion table?
--- @return string
local function suggestion_line(suggestion)
  if not suggestion or suggestion == vim.NIL then
    return "none yet"
  end
  local text = tostring(suggestion.text or ""):gsub("\n", "\\n")
  if vim.fn.strchars(text) > 60 then
    text = vim.fn.strcharpart(text, 0, 57) .. "..."
  end
  return ('"%s" (%s)'):format(text, suggestion.accepted and "accepted" or "shown")
end

--- The answer to `finch.status` as lines for a float or the message area.
--- @param status table
--- @return string[]
function M.status(status)
  local rows = {
    { "model", model_line(status.model) },
    { "adapter", adapter_line(status.adapter) },
    { "buffer", buffer_line(status.buffer) },
    { "training", training_line(status.training) },
    { "last", suggestion_line(status.lastSuggestion) },
  }
  local lines = { "finch status" }
  for _, row in ipairs(rows) do
    lines[#lines + 1] = ("  %-9s %s"):format(row[1], row[2])
  end
  return lines
end

--- One entry of `finch.adapters.list` for a picker.
--- @param adapter table {version, createdAt, examples, finalLoss, active, evaluation, verdict?}
--- @return string
function M.adapter(adapter)
  local line = ("%s  %s  %s  loss %s"):format(
    M.version(adapter.version), M.value(adapter.createdAt), M.count(adapter.examples, "example"), M.value(adapter.finalLoss))
  local verdict = adapter.verdict ~= vim.NIL and adapter.verdict or nil
  if verdict then
    line = line .. "  (" .. M.value(verdict) .. ")"
  elseif type(adapter.evaluation) == "table" and adapter.evaluation.passed ~= nil then
    line = line .. (adapter.evaluation.passed and "  (passed evaluation)" or "  (failed evaluation)")
  end
  return adapter.active and (line .. "  [active]") or line
end

--- The answer to `finch.adapters.use`, `.rollback` or `.delete`.
--- @param result any {active} after a switch, {deleted} after a delete
--- @return string
function M.adapter_result(result)
  if type(result) ~= "table" then
    return "finch: done"
  elseif result.deleted ~= nil then
    return "finch: deleted " .. M.version(result.deleted)
  elseif result.active == nil or result.active == vim.NIL then
    return "finch: now using the base model"
  end
  return "finch: now using adapter " .. M.version(result.active)
end

--- A `$/progress` value as one line, e.g. "finch: training: epoch 2/3, step 5/8, loss 0.981 (40%)".
--- @param value table {kind, title?, message?, percentage?}
--- @return string
function M.progress(value)
  local text = "finch: " .. tostring(value.title or "working"):gsub("^finch: ", "")
  if value.message and value.message ~= vim.NIL then
    text = text .. ": " .. value.message
  end
  if value.percentage and value.percentage ~= vim.NIL then
    text = text .. (" (%d%%)"):format(value.percentage)
  end
  if value.kind == "end" and not value.message then
    text = text .. ": done"
  end
  return text
end

--- A size in bytes as "520 MB", "3.1 GB" (powers of 1000, as the hub shows them).
--- @param bytes any
--- @return string
function M.bytes(bytes)
  if type(bytes) ~= "number" then
    return "?"
  end
  local units = { "B", "kB", "MB", "GB", "TB" }
  local value, unit = bytes, 1
  while value >= 1000 and unit < #units do
    value, unit = value / 1000, unit + 1
  end
  local text = (unit == 1 or value >= 100) and ("%d"):format(math.floor(value + 0.5)) or ("%.1f"):format(value)
  return text .. " " .. units[unit]
end

--- One row of `finch.models.list` for a picker.
--- @param model table {name, repo, sizeBytes, cpuMemoryBytes, gpuMemoryBytes, present, active, autoPick, why?}
--- @return string
function M.model(model)
  local line = ("%s  %s on disk, needs %s RAM or %s GPU memory, %s"):format(
    M.value(model.name), M.bytes(model.sizeBytes), M.bytes(model.cpuMemoryBytes), M.bytes(model.gpuMemoryBytes),
    model.present and "downloaded" or "not downloaded")
  if model.active then
    line = line .. "  [active]"
  end
  if model.autoPick then
    local why = model.why ~= nil and model.why ~= vim.NIL and (": " .. M.value(model.why)) or ""
    line = line .. "  (auto picks it" .. why .. ")"
  end
  return line
end

--- The answer to `finch.models.pull`.
--- @param name string
--- @param result table {started, reason?}
--- @return string
function M.pull(name, result)
  if type(result) == "table" and result.started then
    return ("finch: downloading %s; progress shows here, and a message when it is done"):format(name)
  end
  local reason = type(result) == "table" and result.reason or nil
  return ("finch: %s is not downloading: %s"):format(name, M.value(reason))
end

return M
