--- The user commands: ratings of the last suggestion, training, status and adapters.

local client = require("finch.client")
local format = require("finch.format")
local notice = require("finch.notice")

local M = {}

--- Rate the last suggestion (`finch.feedback.<rating>`), with an optional note.
--- @param rating "critical"|"medium"|"good"
--- @param note? string
--- @param on_result? fun(result: table)
function M.feedback(rating, note, on_result)
  note = vim.trim(note or "")
  local arguments = note ~= "" and { note } or {}
  client.execute("finch.feedback." .. rating, arguments, function(result)
    notice.notify(format.feedback(result), vim.log.levels.INFO)
    if on_result then
      on_result(result)
    end
  end)
end

--- Start training now (`finch.train`).
function M.train()
  client.execute("finch.train", {}, function(result)
    notice.notify(format.train(result), result.started and vim.log.levels.INFO or vim.log.levels.WARN)
  end)
end

--- Show `lines` in a float that closes when the cursor moves, or echo them without a UI.
--- @param lines string[]
local function show_lines(lines)
  if #vim.api.nvim_list_uis() == 0 then
    vim.api.nvim_echo({ { table.concat(lines, "\n") } }, true, {})
    return
  end
  vim.lsp.util.open_floating_preview(lines, "text", { border = "rounded", focus_id = "finch.status" })
end

--- Show the server's state (`finch.status`).
function M.status()
  client.execute("finch.status", {}, function(result)
    show_lines(format.status(result))
  end)
end

--- @param command string
--- @param arguments any[]
local function adapter_action(command, arguments)
  client.execute(command, arguments, function(result)
    notice.notify(format.adapter_result(result), vim.log.levels.INFO)
  end)
end

--- Ask what to do with one adapter version: use it or delete it.
--- @param adapter table
local function choose_action(adapter)
  local actions = {
    { label = "Use " .. format.version(adapter.version), command = "finch.adapters.use" },
    { label = "Delete " .. format.version(adapter.version), command = "finch.adapters.delete" },
  }
  vim.ui.select(actions, {
    prompt = "finch: adapter " .. format.version(adapter.version),
    format_item = function(action) return action.label end,
  }, function(action)
    if action then
      adapter_action(action.command, { adapter.version })
    end
  end)
end

--- Pick an adapter (`finch.adapters.list`), roll back, or go back to the base model.
function M.adapters()
  client.execute("finch.adapters.list", {}, function(adapters)
    local choices = {
      { label = "Roll back to the previous good version", command = "finch.adapters.rollback", arguments = {} },
      { label = "Use the base model (no adapter)", command = "finch.adapters.use", arguments = { vim.NIL } },
    }
    vim.list_extend(choices, adapters or {})
    vim.ui.select(choices, {
      prompt = "finch: adapters",
      format_item = function(choice)
        return choice.label or format.adapter(choice)
      end,
    }, function(choice)
      if choice and choice.command then
        adapter_action(choice.command, choice.arguments)
      elseif choice then
        choose_action(choice)
      end
    end)
  end)
end

--- @param rating "critical"|"medium"|"good"
--- @return string
local function feedback_command_name(rating)
  return "Finch" .. rating:sub(1, 1):upper() .. rating:sub(2)
end

--- Create :FinchCritical, :FinchMedium, :FinchGood, :FinchTrain, :FinchStatus, :FinchAdapters.
function M.register()
  for _, rating in ipairs({ "critical", "medium", "good" }) do
    vim.api.nvim_create_user_command(feedback_command_name(rating), function(args)
      M.feedback(rating, args.args)
    end, { nargs = "?", desc = ("finch: rate the last suggestion %s, with an optional note"):format(rating) })
  end
  vim.api.nvim_create_user_command("FinchTrain", M.train, { desc = "finch: train a new adapter now" })
  vim.api.nvim_create_user_command("FinchStatus", M.status, { desc = "finch: show model, adapter and training" })
  vim.api.nvim_create_user_command("FinchAdapters", M.adapters, { desc = "finch: use, roll back or delete adapters" })
end

return M
