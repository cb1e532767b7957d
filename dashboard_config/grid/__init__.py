"""The offline preview of the grid TestGrid will show for our results: `fedtest grid`.

TestGrid's rules, pure and cited: testgrid.py (a test's cell, from JUnit), build.py (a build's column),
summary.py (a tab's state), golang.py (Go's number, UTF-8 and natural-order semantics they rest on).
tree.py reads results trees (folders or GCS, one per bucket); model.py turns config + trees into
dashboards, tabs and columns as TestGrid's update cycles and tabulator do; site.py writes the pages.
docs/grid.md lists the rules; tests/dashboard/test_grid_oracle.py checks them against TestGrid's code.
"""
