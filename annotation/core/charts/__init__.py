"""Charts drawn on the server as inline SVG (no chart library, nothing from a CDN), for any
app's pages: horizontal bars (`bars.bar_chart`: the tree statistics) and line plots
(`lines.line_plot`: loss curves, best-of-N, calibration). Every text that reaches the markup
goes through format_html."""
