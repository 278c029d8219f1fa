"""Table specs: for every research table, tiny literal intake tables in and the exact rows
out (in the style of ehrQL's spec tests). Each spec's docstring states the rule in words;
`tables.py` turns literal rows into intake frames and compares text tables."""
