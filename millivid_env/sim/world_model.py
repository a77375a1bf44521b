"""The learned simulator's parts under one roof: its config, the denoiser, the tokenizer whose
latents it generates, and the rollout strategy it was trained for."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import torch

from millivid_env.envs.action_codec import ActionCodec
from millivid_env.errors import UserError
from millivid_env.models import checkpoint
from millivid_env.models.diffusion import Denoiser, NoiseConfig
from millivid_env.models.dit import DiTConfig
from millivid_env.models.encode import tokenizer_id
from millivid_env.models.tokenizer import Tokenizer, load_tokenizer
from millivid_env.sim.tokens import Pyramid
from millivid_env.strategies import Strategy, StrategyConfig, make_strategy


@dataclass(frozen=True)
class SimConfig:
    strategy: str = "millivid"  # rollout strategy the model trains for and rolls out with: millivid, flat, framepack, causal
    windows: tuple[int, ...] = (2, 8, 32, 128)  # frames per level window, finest first (MilliVid, causal)
    extra: int = 128  # context tokens beyond the level windows
    new_frames: int = 3  # frames generated per FramePack step
    width: int = 256  # DiT width
    depth: int = 6  # DiT blocks
    heads: int = 4  # DiT attention heads
    train_mean: float = -0.4  # mean log sigma of the generated tokens in training
    train_std: float = 1.2  # standard deviation of log sigma in training
    context_noise: float = 0.7  # training noise on the context tokens reaches up to this sigma
    plan_contexts: tuple[int, ...] = (1, 16, 256)  # training draws steps from rollouts planned after this many given frames
    batch: int = 8  # arrangements per training step
    tokenizer: str = "checkpoints/tokenizer-64"  # the tokenizer whose latents are generated
    # Set from the tokenizer and the data when training starts, not by hand:
    tokens: tuple[int, ...] = (64, 16, 4, 1)  # tokens per frame at each level, finest first
    channels: int = 16  # latent channels
    actions: int = 3  # action ids (`envs.action_codec`)
    action_codec: str = "discrete"  # how env actions become ids: "discrete" or "minerl" (Dict actions)
    tokenizer_id: str = ""  # hash of the tokenizer's weights the latents came from

    def __post_init__(self) -> None:
        if self.width % self.heads or (self.width // self.heads) % 2:
            raise UserError(f"width {self.width} must split into {self.heads} heads of an even size")
        if min(self.plan_contexts, default=0) < 1 or self.batch < 1:
            raise UserError("plan_contexts must be >= 1 frame each and batch >= 1")
        self.strategy_config()  # validates the windows against the tokens
        self.codec  # validates the actions

    @property
    def codec(self) -> ActionCodec:
        return ActionCodec(self.action_codec, self.actions)

    def strategy_config(self) -> StrategyConfig:
        return StrategyConfig(tokens=self.tokens, windows=self.windows, extra=self.extra, new_frames=self.new_frames)

    def dit_config(self) -> DiTConfig:
        return DiTConfig(channels=self.channels, levels=len(self.tokens), action_factors=self.codec.factors,
                         width=self.width, depth=self.depth, heads=self.heads)

    def noise(self) -> NoiseConfig:
        return NoiseConfig(self.train_mean, self.train_std, self.context_noise)


# The configs a user picks by name; the paper's runs on a GPU with a paper-scale tokenizer.
SIM_PRESETS = {
    "cpu": SimConfig(),
    "full": SimConfig(windows=(3, 12, 48, 192), extra=192),
    "paper": SimConfig(windows=(3, 12, 48, 192), extra=768, width=768, depth=12, heads=12, batch=32),
}
DERIVED = ("tokens", "channels", "actions", "action_codec", "tokenizer_id")


def sim_config(folder: str | Path) -> SimConfig:
    try:
        raw = checkpoint.read_config(folder)["config"]
        return SimConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()})
    except (TypeError, KeyError) as e:
        raise UserError(f"{folder}: config.json is not a simulator config ({e})") from None


def find_tokenizer(path: str, sim_folder: Path) -> Path:
    """The tokenizer as named in the config: from the working directory, else beside the simulator."""
    for candidate in (Path(path), sim_folder.parent / Path(path).name):
        if (candidate / checkpoint.MODEL_FILE).exists():
            return candidate
    raise UserError(f"{sim_folder}: its tokenizer {path} is not found (pass --tokenizer)")


class WorldModel:
    """Denoiser + tokenizer + strategy, ready to roll out (eval mode, no gradients)."""

    def __init__(self, cfg: SimConfig, denoiser: Denoiser, tokenizer: Tokenizer | None) -> None:
        self.cfg, self.denoiser, self.tokenizer = cfg, denoiser.eval(), tokenizer
        self.strategy: Strategy = make_strategy(cfg.strategy, cfg.strategy_config())
        self.pyramid = Pyramid(cfg.tokens)

    @property
    def device(self) -> torch.device:
        return self.denoiser.mean.device

    def to(self, device: torch.device | str) -> "WorldModel":
        self.denoiser.to(device)
        if self.tokenizer is not None:
            self.tokenizer.to(device)
        return self

    def with_strategy(self, name: str) -> "WorldModel":
        """The same weights rolled out with another strategy (for comparisons)."""
        return WorldModel(dataclasses.replace(self.cfg, strategy=name), self.denoiser, self.tokenizer)


def load_world_model(folder: str | Path, tokenizer: str | Path | None = None, with_tokenizer: bool = True) -> WorldModel:
    """A trained simulator; `tokenizer` overrides where its tokenizer is looked for, and must be the
    same weights it was trained on."""
    folder = Path(folder)
    cfg = sim_config(folder)
    denoiser = Denoiser(cfg.dit_config())
    checkpoint.load_weights(folder, denoiser)
    decoder = None
    if with_tokenizer:
        path = Path(tokenizer) if tokenizer else find_tokenizer(cfg.tokenizer, folder)
        if cfg.tokenizer_id and tokenizer_id(path) != cfg.tokenizer_id:
            raise UserError(f"{path} is not the tokenizer {folder} was trained on (weights {tokenizer_id(path)}, "
                            f"expected {cfg.tokenizer_id})")
        decoder = load_tokenizer(path)
    return WorldModel(cfg, denoiser, decoder)
