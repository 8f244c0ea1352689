from unlogit.runtime.tables import grid, grid_markdown


def test_a_grid_renders_as_markdown_with_numbers_right_aligned_and_pipes_escaped():
    table = grid(
        [{"id": "C2", "what": "a | b", "n": 500}, {"id": "C3", "what": "c", "n": 12}], links={"id": "#{}".format}
    )
    lines = grid_markdown(table).splitlines()
    assert lines[0] == "| id | what | n |"
    assert lines[1] == "|---|---|---:|"
    assert lines[2] == "| [C2](#C2) | a \\| b | 500 |"
    assert grid_markdown(table, links=False).splitlines()[3] == "| C3 | c | 12 |"
