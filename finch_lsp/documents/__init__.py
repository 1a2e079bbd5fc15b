"""Documents as the editor holds them: positions, the suggestions shown in them, and their edits."""
