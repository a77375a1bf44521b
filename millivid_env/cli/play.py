"""Walk the voxel world yourself (WASD, space, shift sneak, ctrl sprint, mouse look, click to
break/place), or walk the learned simulator (`--sim`: W forward, A/D turn, and it waits while no key
is held, for a model of macro actions; the same keys and mouse as the world, one tick a frame, for a
model of Dict actions), optionally beside the true world under the same actions (`--beside`)."""
from __future__ import annotations

import argparse
from typing import Any, Callable

import numpy as np

from millivid_env.cli import options
from millivid_env.envs.actions import MACRO_ACTIONS, noop
from millivid_env.envs.make import make_env
from millivid_env.errors import UserError

MOUSE_DEGREES_PER_PIXEL = 0.15
WINDOW_SIDE = 640


def add_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--env", default="millivid/VoxelWorld-v0")
    p.add_argument("--seed", type=options.non_negative_int, default=0)
    p.add_argument("--size", type=options.size, default=(160, 160), help="render size (the window scales it)")
    p.add_argument("--max-frames", type=options.non_negative_int, default=0, help="quit after N frames (0: never)")
    p.add_argument("--sim", nargs="?", const="", default=None, metavar="RUN",
                   help="play a trained simulator instead (no RUN: the shipped checkpoint)")
    p.add_argument("--beside", action="store_true", help="with --sim: the true world beside it, under the same actions")
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


MACRO_KEYS = {"forward_jump": "w", "turn_left": "a", "turn_right": "d"}


def keys_to_macro(held: set[int]) -> int | None:
    """The macro action of the first held key among W, A, D (in action order), or None."""
    import pygame

    for index, name in enumerate(MACRO_ACTIONS):
        if pygame.key.key_code(MACRO_KEYS[name]) in held:
            return index
    return None


class Window:
    """The play window: frames side by side, scaled up, with a line of text on top."""

    def __init__(self, panels: int, size: tuple[int, int], grab: bool) -> None:
        import pygame

        pygame.init()
        self.screen = pygame.display.set_mode((WINDOW_SIDE * panels, WINDOW_SIDE * size[0] // size[1]))
        pygame.display.set_caption("millivid play")
        pygame.event.set_grab(grab)
        pygame.mouse.set_visible(not grab)
        self.font = pygame.font.Font(None, 22)
        self.clock = pygame.time.Clock()

    def show(self, frames: list[np.ndarray], text: str) -> None:
        import pygame

        w, h = self.screen.get_size()
        panel = w // len(frames)
        for i, frame in enumerate(frames):
            surface = pygame.surfarray.make_surface(frame.swapaxes(0, 1))
            self.screen.blit(pygame.transform.scale(surface, (panel, h)), (i * panel, 0))
        self.screen.blit(self.font.render(f"{text}  fps {self.clock.get_fps():.0f}", True, (255, 255, 255)), (8, 8))
        for i in range(len(frames)):
            cx = i * panel + panel // 2
            pygame.draw.line(self.screen, (255, 255, 255), (cx - 6, h // 2), (cx + 6, h // 2))
            pygame.draw.line(self.screen, (255, 255, 255), (cx, h // 2 - 6), (cx, h // 2 + 6))
        pygame.display.flip()
        self.clock.tick(20)


def run(args: argparse.Namespace) -> int:
    try:
        import pygame
    except ImportError:
        raise UserError("play needs pygame: pip install 'millivid-env[agents]'") from None
    if args.beside and args.sim is None:
        raise UserError("--beside needs --sim")
    played = play_sim(args) if args.sim is not None else play_world(args)
    pygame.quit()
    print(played)
    return 0


def play_world(args: argparse.Namespace) -> str:
    import pygame

    env = make_env(args.env, size=args.size)
    obs, info = env.reset(seed=args.seed)
    window, player, frames = Window(1, args.size, grab=True), Player(), 0
    while not player.quit and (args.max_frames == 0 or frames < args.max_frames):
        mouse = player.handle(pygame.event.get())
        obs, _, terminated, truncated, info = env.step(keys_to_action(player.held, mouse, player.clicks))
        x, y, z, yaw, pitch = info["pose"]
        window.show([obs["pov"]], f"x {x:.1f}  y {y:.1f}  z {z:.1f}  yaw {yaw:.0f}  pitch {pitch:.0f}")
        frames += 1
        if terminated or truncated:
            obs, info = env.reset()
    return f"played {frames} frames; final pose {np.round(info['pose'], 2).tolist()}"


def play_sim(args: argparse.Namespace) -> str:
    import gymnasium as gym
    import pygame

    env = gym.make("millivid/Sim-v0", **({"checkpoint": args.sim} if args.sim else {}))
    obs, _ = env.reset(seed=args.seed)
    world = env.unwrapped.world  # where the rendered prompt left it: the state the simulation starts from

    def panels(simulated: np.ndarray, true: Callable[[], np.ndarray]) -> list[np.ndarray]:
        """The simulated frame, and with --beside the true world's (only then is it stepped)."""
        return [simulated, true()] if args.beside else [simulated]

    shown = panels(obs["pov"], world.render)
    ticks = isinstance(env.action_space, gym.spaces.Dict)  # a model of Dict actions: one step a game tick
    keys = "WASD, space, mouse" if ticks else "W forward, A/D turn"
    window, player = Window(len(shown), shown[0].shape[:2], grab=ticks), Player()
    steps = loops = 0
    while not player.quit and (args.max_frames == 0 or loops < args.max_frames):
        mouse = player.handle(pygame.event.get())
        action = keys_to_action(player.held, mouse, player.clicks) if ticks else keys_to_macro(player.held)
        if action is not None:
            obs, _, _, truncated, _ = env.step(action)
            shown = panels(obs["pov"], lambda: world.step(action)[0]["pov"])
            steps += 1
            if truncated:
                obs, _ = env.reset()
                shown = panels(obs["pov"], world.render)
        label = "simulated | true world" if args.beside else "simulated"
        window.show(shown, f"{label}  step {steps}  {keys}")
        loops += 1
    return f"played {steps} simulated frames"
