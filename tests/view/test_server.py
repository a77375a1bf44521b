"""The viewer's HTTP routes, its error answers and its port handling."""
import json
import socket
import urllib.error
import urllib.request

import cv2
import numpy as np
import pytest

from millivid_env.cli.main import main


def get(url):
    try:
        with urllib.request.urlopen(url) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers["Content-Type"], e.read()


def image(body):
    return cv2.cvtColor(cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def test_page_dataset_episode_and_frames(viewer):
    url = viewer.url
    assert viewer.server_address[0] == "127.0.0.1", "served to this machine only"
    status, kind, page = get(url)
    assert status == 200 and kind.startswith("text/html") and b"viewer.js" in page
    assert b"http" not in page.replace(b"http-equiv", b""), "the page loads nothing from elsewhere"
    assert get(url + "viewer.js")[0] == 200 and get(url + "viewer.css")[0] == 200
    dataset = json.loads(get(url + "api/dataset")[2])
    assert dataset["error"] is None and [e["index"] for e in dataset["episodes"]] == [0, 1, 2]
    assert dataset["revisit_context"] == 8, "revisits return to what the rollouts were given as context"
    episode = json.loads(get(url + "api/episode/0")[2])
    assert [r["first"] for r in episode["rollouts"]] == [8] and episode["rollouts"][0]["scores"]["psnr"][0] == 20.0
    assert json.loads(get(url + "api/episode/1")[2])["rollouts"] == []
    frame = image(get(url + "api/episode/0/rgb/12.png")[2])
    assert np.array_equal(frame, viewer.catalog.frame(0, "rgb", 12))
    assert image(get(url + "api/rollout/r0/8.png")[2])[0, 0, 0] == 40
    status, kind, body = get(url + "api/episode/0/map.png")
    assert status == 200 and image(body).shape[:2] == tuple(episode["world_size"][::-1])
    assert json.loads(get(url + "api/episode/0/step/3")[2])["t"] == 3


def test_errors_come_back_as_json_lines_and_are_printed_once(viewer):
    for path in ("api/episode/9", "api/episode/0/rgb/999.png", "api/rollout/r7/3.png", "api/rollout/r0/2.png", "nowhere"):
        status, kind, body = get(viewer.url + path)
        assert status == 404 and kind == "application/json" and "\n" not in json.loads(body)["error"]
    get(viewer.url + "api/episode/9")
    assert len(viewer.lines) == 4 and all(line.startswith("millivid view: ") for line in viewer.lines)


def test_a_missing_dataset_is_shown_on_the_page_and_in_the_terminal(tmp_path, capsys):
    from millivid_env.view.server import serve

    server = serve(tmp_path / "nothing", [tmp_path / "no-rollouts"], port=0)
    try:
        err = capsys.readouterr().err
        assert "no such dataset folder" in err and "no such rollout folder" in err
        dataset = server.dataset()
        assert "no such dataset folder" in dataset["error"] and dataset["episodes"] == []
        assert "no such rollout folder" in dataset["problems"][0]
    finally:
        server.server_close()


def test_a_port_in_use_is_one_line(small_dataset, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["view", str(small_dataset), "--port", str(port)]) == 2
    assert capsys.readouterr().err.strip() == f"millivid view: error: port {port} is in use; pick another with --port"
    with pytest.raises(SystemExit):
        main(["view", str(small_dataset), "--port", "99999"])
    assert "a port is 0-65535, got 99999" in capsys.readouterr().err

