--- Pure text functions behind the ghost text: what is left to show after the user typed,
--- the next word or line to accept, and the display lines. No editor state here.

local M = {}

--- What a suggestion still adds at the cursor: `text` was meant to replace from byte
--- `start_col` of `line`, and the user has since typed up to byte `cursor_col`.
--- nil when the typed text does not match the suggestion, or the cursor is before its start.
--- @param text string the suggestion's insert text
--- @param line string the cursor's line now
--- @param start_col integer 0-based byte column the suggestion starts at
--- @param cursor_col integer 0-based byte column of the cursor
--- @return string?
function M.remaining(text, line, start_col, cursor_col)
  if cursor_col < start_col then
    return nil
  end
  local typed = line:sub(start_col + 1, cursor_col)
  if text:sub(1, #typed) ~= typed then
    return nil
  end
  return text:sub(#typed + 1)
end

--- The leading line break and the indentation after it, if `text` starts with one.
--- @param text string
--- @return string
local function leading_break(text)
  return text:match("^\r?\n[ \t]*") or ""
end

--- The next word of `text`, as "accept next word" inserts it: a line break with its
--- indentation if the text starts there, then blanks, then a run of word characters or a
--- run of other characters.
--- @param text string
--- @return string
function M.next_word(text)
  local head = leading_break(text)
  local rest = text:sub(#head + 1)
  local word = rest:match("^[ \t]*[%w_]+") or rest:match("^[ \t]*[^%w_%s]+") or rest:match("^[ \t]+") or ""
  return head .. word
end

--- The next line of `text`, as "accept next line" inserts it: the rest of the current line;
--- if the text starts with a line break, the break and the line after it.
--- @param text string
--- @return string
function M.next_line(text)
  local head = text:match("^\r?\n") or ""
  local rest = text:sub(#head + 1)
  return head .. (rest:match("^[^\n]*") or "")
end

--- The piece of `text` that `part` accepts: "word", "line", or everything (nil).
--- @param text string
--- @param part? "word"|"line"
--- @return string
function M.piece(text, part)
  if part == "word" then
    return M.next_word(text)
  elseif part == "line" then
    return M.next_line(text)
  end
  return text
end

--- `text` as display lines, tabs expanded to `tabstop` spaces (virtual text shows a tab as ^I).
--- The first line starts at display column `first_col` (the cursor's), the others at 0.
--- @param text string
--- @param tabstop integer
--- @param first_col? integer
--- @return string[]
function M.display_lines(text, tabstop, first_col)
  local lines = {}
  for i, line in ipairs(vim.split(text, "\n", { plain = true })) do
    local col = i == 1 and (first_col or 0) or 0
    local out = {}
    for char in line:gmatch("[^\r]") do
      if char == "\t" then
        local width = tabstop - (col % tabstop)
        out[#out + 1] = string.rep(" ", width)
        col = col + width
      else
        out[#out + 1] = char
        col = col + 1
      end
    end
    lines[#lines + 1] = table.concat(out)
  end
  return lines
end

--- Where the cursor ends after inserting `lines` at (row, col): 0-based row, byte column.
--- @param row integer
--- @param col integer
--- @param lines string[]
--- @return integer, integer
function M.end_position(row, col, lines)
  if #lines == 1 then
    return row, col + #lines[1]
  end
  return row + #lines - 1, #lines[#lines]
end

return M
