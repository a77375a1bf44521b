"""`millivid bench tokenizer`: reconstruction from every coarse prefix, semantic scores, speed."""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from millivid_env.bench.degraded_originals import degraded_scores
from millivid_env.bench.timing import machine
from millivid_env.data.windows import WindowDataset
from millivid_env.errors import UserError
from millivid_env.metrics.psnr import psnr
from millivid_env.metrics.semantic import PaletteClassifier, landmark_iou_by_cover, semantic_mask, semantic_scores
from millivid_env.metrics.ssim import ssim
from millivid_env.models.tokenizer import Tokenizer, TokenizerConfig, get_config, load_tokenizer
from millivid_env.models.tokenizer_training import decoded_prefixes, frame_batches, to_images, to_uint8, tokenizer_loss
from millivid_env.models.trainer import TrainConfig, autocast_for, training_step
from millivid_env.record import layout
from millivid_env.viz import contact_sheet, label, write_png
from millivid_env.world import Camera, block_table
from millivid_env.world.raycast import SKY_HORIZON


@dataclass(frozen=True)
class TokenizerBenchConfig:
    frames: int = 512  # evaluation frames, spread evenly over the odd episodes
    grid_rows: int = 4
    speed_batch: int = 256
    seed: int = 0


def held_out_frames(root: Path, count: int, parity: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """rgb (N, H, W, 3), block_id (N, H, W), depth (N, H, W) and episode names (N,) spread over episodes of
    one parity (odd: evaluate, even: fit the palette), so the colour lookup never sees an evaluated frame."""
    windows = WindowDataset(root, 1, split="all", fields=("rgb", layout.OBS))
    names = [windows.locate(i)[0].name for i in range(len(windows))]
    picks = [i for i, name in enumerate(names) if name.endswith(tuple("13579" if parity else "02468"))]
    picks = [picks[int(j)] for j in np.linspace(0, len(picks) - 1, min(count, len(picks)))]
    picked = windows.frames(picks)
    if not picks or layout.BLOCK_ID not in picked or layout.DEPTH not in picked:
        raise UserError(f"{root}: need episodes with {layout.BLOCK_ID} and {layout.DEPTH} on both odd and even indices")
    return picked["rgb"], picked[layout.BLOCK_ID], picked[layout.DEPTH], np.array([names[i] for i in picks])


def class_map_scores(classes: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> dict[str, Any]:
    return {**semantic_scores(classes, truth, mask), "landmark_iou_by_cover": landmark_iou_by_cover(classes, truth, mask)}


@torch.inference_mode()
def prefix_scores(model: Tokenizer, rgb: np.ndarray, truth: np.ndarray, mask: np.ndarray,
                  palette: PaletteClassifier) -> tuple[list[dict], list[np.ndarray], list[np.ndarray], np.ndarray]:
    """Scores, uint8 reconstructions and class maps (block ids; none without a class head) per
    prefix, and the PSNR of every frame with all levels. A tokenizer with a class head also gets
    the scores of its class map ("class_head")."""
    images = to_images(torch.from_numpy(rgb))
    head = model.decoder.classes
    rows, recons, maps = [], [], []
    for keep, recon, logits in decoded_prefixes(model, images, classes=head is not None):
        classes = palette(to_uint8(recon))
        frame_psnr = psnr(recon, images)
        rows.append({"levels": keep, "psnr": frame_psnr.mean().item(), "ssim": ssim(recon.clamp(0, 1), images).mean().item(),
                     **class_map_scores(classes, truth, mask)})
        if head:
            maps.append(head.block_ids_of(logits).numpy().astype(np.uint8))
            rows[-1]["class_head"] = class_map_scores(maps[-1], truth, mask)
        recons.append(to_uint8(recon))
    return rows, recons, maps, frame_psnr.numpy()


def paint(block_id: np.ndarray) -> np.ndarray:
    """A class map (H, W) drawn in each class's base colour, sky in the horizon's, 2x upscaled like the grid's frames."""
    colours = block_table().palette.copy()
    colours[0] = SKY_HORIZON
    return np.repeat(np.repeat((colours[block_id] * 255 + 0.5).astype(np.uint8), 2, 0), 2, 1)


@torch.inference_mode()
def speed(model: Tokenizer, rgb: np.ndarray, batch: int) -> tuple[float, float]:
    images = to_images(torch.from_numpy(np.resize(rgb, (batch, *rgb.shape[1:]))))
    model.encode(images)  # warm-up
    start = time.perf_counter()
    latents = model.encode(images)
    encode = batch / (time.perf_counter() - start)
    start = time.perf_counter()
    model.decode(latents)
    return encode, batch / (time.perf_counter() - start)


def training_frames_per_second(dataset: Path, seconds: float, batch: int = 32, warmup: int = 2) -> float:
    """Frames/s that default-config tokenizer training consumes here: the trainer's step (forward,
    loss, backward, clipping, AdamW) on random batches of `dataset`, after `warmup` untimed steps."""
    model, cfg = Tokenizer(get_config("default")), TrainConfig()
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    batches = frame_batches(dataset, batch, "all", 0, torch.device("cpu"))
    autocast = autocast_for(torch.device("cpu"))

    def step() -> None:
        training_step(model, optimizer, tokenizer_loss, next(batches), cfg.lr, cfg.grad_clip, autocast)

    for _ in range(warmup):
        step()
    steps, start = 0, time.perf_counter()
    while steps == 0 or time.perf_counter() - start < seconds:
        step()
        steps += 1
    return steps * batch / (time.perf_counter() - start)


def pyramid_ablations(entries: dict[str, dict[str, Any]], configs: dict[str, TokenizerConfig]) -> list[dict[str, Any]]:
    """Learned vs cascaded for every pair of tokenizers whose configs differ in the pyramid only."""
    pairs = []
    for learned, cfg in configs.items():
        for cascaded, other in configs.items():
            if cfg.pyramid == "learned" and other == replace(cfg, pyramid="cascaded"):
                gains = [a["psnr"] - b["psnr"] for a, b in zip(entries[learned]["prefixes"], entries[cascaded]["prefixes"])]
                pairs.append({"learned": learned, "cascaded": cascaded, "psnr_gain_per_prefix": gains,
                              "learned_wins_every_prefix": all(g > 0 for g in gains)})
    return pairs


def markdown(results: dict[str, Any]) -> str:
    def row(name: str, levels: Any, psnr: str, ssim: str, scores: dict[str, Any]) -> str:
        lm = "-" if scores["landmark_iou"] is None else f"{scores['landmark_iou']:.3f}"
        return f"| {name} | {levels} | {psnr} | {ssim} | {scores['miou']:.3f} | {lm} |"

    lines = ["| tokenizer | levels | PSNR dB | SSIM | block mIoU | landmark IoU |", "|---|---|---|---|---|---|"]
    for name, entry in results["tokenizers"].items():
        lines += [row(name, r["levels"], f"{r['psnr']:.2f}", f"{r['ssim']:.3f}", r) for r in entry["prefixes"]]
    lines.append(row("original frames (palette ceiling)", "-", "-", "-", results["palette_ceiling"]))
    # what the colour lookup reads at a given PSNR, whatever the model: the mIoU scale's calibration
    units = {"noise": "colour noise, sigma {:.1f} levels", "blur": "blurred, sigma {:.2f} px"}
    lines += [row(f"original frames, {units[r['kind']].format(r['strength'])}", "-", f"{r['psnr']:.2f}", "-", r)
              for r in results["degraded_originals"]]
    names = list(results["tokenizers"])
    covers = results["tokenizers"][names[0]]["prefixes"][0]["landmark_iou_by_cover"]
    lines += ["", "| tokenizer | levels | " + " | ".join(f"landmark IoU, cover {c} ({v['pairs']} views)" for c, v in covers.items()) + " |",
              "|---|---" + "|---" * len(covers) + "|"]
    for name in names:
        lines += [f"| {name} | {r['levels']} | " + " | ".join("-" if v["iou"] is None else f"{v['iou']:.3f}"
                                                           for v in r["landmark_iou_by_cover"].values()) + " |"
                  for r in results["tokenizers"][name]["prefixes"]]
    heads = [(n, r) for n in names for r in results["tokenizers"][n]["prefixes"] if "class_head" in r]
    if heads:  # the class map the decoder reads out, beside the colour lookup's reading of its image
        lines += ["", "| tokenizer | levels | class head: block mIoU | landmark IoU | "
                  + " | ".join(f"landmark IoU, cover {c}" for c in covers) + " |", "|---|---|---|---" + "|---" * len(covers) + "|"]
        lines += [f"| {n} | {r['levels']} | {r['class_head']['miou']:.3f} | "
                  + " | ".join("-" if v is None else f"{v:.3f}" for v in
                               [r["class_head"]["landmark_iou"], *(c["iou"] for c in r["class_head"]["landmark_iou_by_cover"].values())]) + " |"
                  for n, r in heads]
    lines += ["", "| episode | " + " | ".join(f"{n}, all levels, dB" for n in names) + " |", "|---" * (len(names) + 1) + "|"]
    for episode in results["tokenizers"][names[0]]["episode_psnr"]:
        lines.append(f"| {episode} | " + " | ".join(f"{results['tokenizers'][n]['episode_psnr'][episode]:.2f}" for n in names) + " |")
    for pair in results["pyramid_ablations"]:
        gains = " / ".join(f"{g:+.2f}" for g in pair["psnr_gain_per_prefix"])
        lines.append(f"\n{pair['learned']} vs {pair['cascaded']}: PSNR {gains} dB keeping 1..L levels "
                     f"(learned wins every prefix: {'yes' if pair['learned_wins_every_prefix'] else 'no'})")
    return "\n".join(lines)


def run_tokenizer_bench(tokenizer: Path, data: Path, out: Path, compare: tuple[Path, ...] = (),
                        cfg: TokenizerBenchConfig = TokenizerBenchConfig()) -> dict[str, Any]:
    rgb, truth, depth, episodes = held_out_frames(data, cfg.frames, parity=1)
    fit_rgb, fit_truth, *_ = held_out_frames(data, cfg.frames * 4, parity=0)
    palette = PaletteClassifier().fit(fit_rgb, fit_truth)
    camera = Camera()
    mask = semantic_mask(depth, truth, camera.view_distance * camera.fog_start)
    ceiling = palette(rgb)
    results: dict[str, Any] = {
        "machine": machine(), "data": str(data), "frames": len(rgb),
        "semantic_pixels": f"{mask.mean():.1%} of pixels: in front of the fog ({camera.view_distance * camera.fog_start:g} blocks) or sky",
        "palette_ceiling": semantic_scores(ceiling, truth, mask),
        "degraded_originals": degraded_scores(rgb, truth, mask, palette),
        "tokenizers": {},
    }
    configs: dict[str, TokenizerConfig] = {}
    sample = np.linspace(0, len(rgb) - 1, cfg.grid_rows).astype(int)
    tiles = [[label(np.repeat(np.repeat(rgb[i], 2, 0), 2, 1), "original")] for i in sample]
    for folder in (tokenizer, *compare):
        model = load_tokenizer(folder)
        rows, recons, maps, frame_psnr = prefix_scores(model, rgb, truth, mask, palette)
        encode_fps, decode_fps = speed(model, rgb, cfg.speed_batch)
        name = f"{Path(folder).name} ({model.cfg.pyramid})"
        name = name if name not in results["tokenizers"] else f"{name} #{len(results['tokenizers']) + 1}"
        configs[name] = model.cfg
        results["tokenizers"][name] = {"prefixes": rows, "encode_fps": encode_fps, "decode_fps": decode_fps,
                                       "monotonic_psnr": all(a["psnr"] < b["psnr"] for a, b in zip(rows, rows[1:])),
                                       # the world sets quality far more than a model change does: compare per episode
                                       "episode_psnr": {str(e): float(frame_psnr[episodes == e].mean()) for e in dict.fromkeys(episodes)}}
        for r, i in enumerate(sample):
            tiles[r] += [label(np.repeat(np.repeat(rec[i], 2, 0), 2, 1), f"{model.cfg.pyramid} {k + 1}/{model.cfg.levels}")
                         for k, rec in enumerate(recons)]
            if maps:  # the class head's maps from the coarsest level and from all, after the truth's
                tiles[r] += [label(paint(truth[i]), "true classes"), label(paint(maps[0][i]), f"classes 1/{model.cfg.levels}"),
                             label(paint(maps[-1][i]), f"classes {model.cfg.levels}/{model.cfg.levels}")]
    first = results["tokenizers"][next(iter(results["tokenizers"]))]
    results.update({"prefixes": first["prefixes"], "encode_fps": first["encode_fps"], "decode_fps": first["decode_fps"]})
    results["pyramid_ablations"] = pyramid_ablations(results["tokenizers"], configs)
    grid = Path(out).with_suffix(".png")
    write_png(grid, contact_sheet([t for row in tiles for t in row], cols=len(tiles[0])))
    results["grid_png"], results["table"] = str(grid), markdown(results)
    return results
