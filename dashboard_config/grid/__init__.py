"""The offline preview of the grid TestGrid will show for our results: `fedtest grid`.

testgrid.py holds TestGrid's rules (pure, cited); tree.py reads a results tree (folder or GCS);
model.py turns config + tree into dashboards, tabs and columns; site.py writes the static pages.
"""
