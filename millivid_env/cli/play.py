"""Walk the voxel world yourself: WASD, space, shift sneak, ctrl sprint, mouse look, click to break/place."""
from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from millivid_env.cli import options
from millivid_env.envs.actions import noop
from millivid_env.envs.make import make_env

MOUSE_DEGREES_PER_PIXEL = 0.15
WINDOW_SIDE = 640


def add_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--env", default="millivid/VoxelWorld-v0")
    p.add_argument("--seed", type=options.non_negative_int, default=0)
    p.add_argument("--size", type=options.size, default=(160, 160), help="render size (the window scales it)")
    p.add_argument("--max-frames", type=options.non_negative_int, default=0, help="quit after N frames (0: never)")
    p.set_defaults(run=run)


def keys_to_action(held: set[int], mouse: tuple[float, float], buttons: set[int]) -> dict[str, Any]:
    import pygame

    action = noop()
    for key, name in ((pygame.K_w, "forward"), (pygame.K_s, "back"), (pygame.K_a, "left"), (pygame.K_d, "right"),
                      (pygame.K_SPACE, "jump"), (pygame.K_LSHIFT, "sneak"), (pygame.K_LCTRL, "sprint")):
        action[name] = int(key in held)
    action["attack"], action["use"] = int(1 in buttons), int(3 in buttons)
    dx, dy = mouse
    action["camera"] = np.clip(np.array([dy, dx], np.float32) * MOUSE_DEGREES_PER_PIXEL, -180, 180)
    return action


class Player:
    """Event handling for the play window, kept apart from the loop so tests can feed events."""

    def __init__(self) -> None:
        self.held: set[int] = set()
        self.clicks: set[int] = set()
        self.quit = False

    def handle(self, events) -> tuple[float, float]:
        import pygame

        mouse = [0.0, 0.0]
        self.clicks = set()
        for e in events:
            if e.type == pygame.QUIT or (e.type == pygame.KEYDOWN and e.key == pygame.K_ESCAPE):
                self.quit = True
            elif e.type == pygame.KEYDOWN:
                self.held.add(e.key)
            elif e.type == pygame.KEYUP:
                self.held.discard(e.key)
            elif e.type == pygame.MOUSEBUTTONDOWN:
                self.clicks.add(e.button)
            elif e.type == pygame.MOUSEMOTION:
                mouse[0] += e.rel[0]
                mouse[1] += e.rel[1]
        return mouse[0], mouse[1]


def run(args: argparse.Namespace) -> int:
    try:
        import pygame
    except ImportError:
        raise ValueError("play needs pygame: pip install 'millivid-env[agents]'") from None
    env = make_env(args.env, size=args.size)
    obs, info = env.reset(seed=args.seed)
    pygame.init()
    screen = pygame.display.set_mode((WINDOW_SIDE, WINDOW_SIDE * args.size[0] // args.size[1]))
    pygame.display.set_caption("millivid play")
    pygame.event.set_grab(True)
    pygame.mouse.set_visible(False)
    font = pygame.font.Font(None, 22)
    clock, player, frames = pygame.time.Clock(), Player(), 0
    while not player.quit and (args.max_frames == 0 or frames < args.max_frames):
        mouse = player.handle(pygame.event.get())
        obs, _, terminated, truncated, info = env.step(keys_to_action(player.held, mouse, player.clicks))
        surface = pygame.surfarray.make_surface(obs["pov"].swapaxes(0, 1))
        screen.blit(pygame.transform.scale(surface, screen.get_size()), (0, 0))
        x, y, z, yaw, pitch = info["pose"]
        hud = f"x {x:.1f}  y {y:.1f}  z {z:.1f}  yaw {yaw:.0f}  pitch {pitch:.0f}  fps {clock.get_fps():.0f}"
        screen.blit(font.render(hud, True, (255, 255, 255)), (8, 8))
        w, h = screen.get_size()
        pygame.draw.line(screen, (255, 255, 255), (w // 2 - 6, h // 2), (w // 2 + 6, h // 2))
        pygame.draw.line(screen, (255, 255, 255), (w // 2, h // 2 - 6), (w // 2, h // 2 + 6))
        pygame.display.flip()
        clock.tick(20)
        frames += 1
        if terminated or truncated:
            obs, info = env.reset()
    pygame.quit()
    print(f"played {frames} frames; final pose {np.round(info['pose'], 2).tolist()}")
    return 0
