"""``unlogit report``: one self-contained HTML page from run directories and study folders."""
