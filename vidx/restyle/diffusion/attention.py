"""Cross-frame attention: self-attention of a frame also looks at the anchor and the previous frame.

Every frame records each chosen UNet self-attention layer's input features per timestep; a frame
tied to the past (a reused frame, or an anchored keyframe) computes that layer's keys and values
from ``[own features, anchor features, previous frame's features]``, so textures and colours are
copied instead of re-invented (Text2Video-Zero / Rerender-A-Video's sparse-causal attention).
A keyframe's features become the anchor of the frames after it; a scene cut clears both. The
stored frames' keys and values are projected once per timestep and kept by each layer's
processor: the anchor serves every frame up to the next keyframe, and the previous frame every
box of this one, so a frame rendered in boxes does not project them again for each box. Memory
is bounded by ``7 x (steps per frame) x (layers) x (tokens)`` (features of three frames, keys
and values of two) and does not grow with the clip.
``blocks`` picks the UNet blocks that do it (``"all"`` or a comma list of down, mid, up).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from vidx.options import ATTENTION_BLOCKS as BLOCKS

_PREFIX = {"down": "down_blocks", "mid": "mid_block", "up": "up_blocks"}

Store = dict[tuple[str, int], torch.Tensor]


@dataclass
class CrossFrameState:
    """What the processors share: ``step`` the current timestep key (None: do nothing),
    ``use`` whether this frame attends to ``anchor`` and ``prev``; ``current`` is what this
    frame records."""

    step: int | None = None
    use: bool = False
    more: bool = False  # this frame is rendered in parts (boxes): a later part adds its own
    # the box being rendered and the frame's latent size, in latent cells: a box attends to the
    # anchor around it only (``window``); None: the whole anchor
    box: tuple[int, int, int, int] | None = None
    cells: tuple[int, int] | None = None
    anchor: Store = field(default_factory=dict)
    prev: Store = field(default_factory=dict)
    current: Store = field(default_factory=dict)

    def clear(self) -> None:
        self.anchor, self.prev, self.current = {}, {}, {}
        self.use, self.step, self.more, self.box = False, None, False, None

    def end_frame(self, keyframe: bool) -> None:
        """The frame just rendered becomes the previous one (and the anchor on a keyframe)."""
        self.prev = self.current
        if keyframe:
            self.anchor = self.current
        self.current = {}
        self.step, self.more, self.box = None, False, None

    def extras(self, key: tuple[str, int], like: torch.Tensor) -> list[torch.Tensor]:
        out: list[torch.Tensor] = []
        stores = [self.anchor] if self.prev is self.anchor else [self.anchor, self.prev]
        for store in stores:
            t = store.get(key)
            if t is not None and t.shape[0] == like.shape[0] and t.shape[2] == like.shape[2]:
                out.append(t.to(like.dtype))
        return out

    def window(self, tokens: int) -> torch.Tensor | None:
        """The anchor's tokens (of ``tokens``, a whole frame at some layer's scale) within
        ``box`` grown by its own size on every side, or None for all of them: what a box can
        copy from lies around it (its subject since the keyframe, its background), and a box
        that attended to the whole anchor paid for the whole frame's keys."""
        if self.box is None or self.cells is None:
            return None
        (h, w), (y0, y1, x0, x1) = self.cells, self.box
        for scale in (1, 2, 4, 8, 16, 32):
            gh, gw = -(-h // scale), -(-w // scale)
            if gh * gw == tokens:
                break
        else:
            return None
        dy, dx = y1 - y0, x1 - x0
        ys = torch.arange(max(0, y0 - dy) // scale, -(-min(h, y1 + dy) // scale))
        xs = torch.arange(max(0, x0 - dx) // scale, -(-min(w, x1 + dx) // scale))
        return (ys[:, None] * gw + xs[None, :]).flatten()

    def nbytes(self) -> int:
        seen: dict[int, torch.Tensor] = {}
        for store in (self.anchor, self.prev, self.current):
            for t in store.values():
                seen[id(t)] = t
        return sum(t.numel() * t.element_size() for t in seen.values())

    @property
    def store(self) -> Store:
        """The anchor's features (kept for callers of the 0.1 name)."""
        return self.anchor


class CrossFrameAttnProcessor:
    """``AttnProcessor2_0`` for self-attention layers, extended with the anchor's and the
    previous frame's features."""

    def __init__(self, name: str, state: CrossFrameState) -> None:
        self.name = name
        self.state = state
        # the keys and values of stored features, per timestep: the anchor's serve every frame
        # up to the next keyframe and the previous frame's every box of this one, so each is
        # projected once (an entry is used only while its features are the very tensor stored)
        self._projected: dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}

    def _keys_values(
        self, attn, step: int, slot: int, features: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        hit = self._projected.get((step, slot))
        if hit is not None and hit[0] is features:
            return hit[1], hit[2]
        k, v = attn.to_k(features), attn.to_v(features)
        self._projected[step, slot] = (features, k, v)
        return k, v

    def __call__(
        self,
        attn,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        temb: torch.Tensor | None = None,
        *args,
        **kwargs,
    ) -> torch.Tensor:
        residual = hidden_states
        if attn.spatial_norm is not None:
            hidden_states = attn.spatial_norm(hidden_states, temb)
        input_ndim = hidden_states.ndim
        if input_ndim == 4:
            b, c, h, w = hidden_states.shape
            hidden_states = hidden_states.view(b, c, h * w).transpose(1, 2)
        batch, _, _ = hidden_states.shape
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)

        context = hidden_states if encoder_hidden_states is None else encoder_hidden_states
        st = self.state
        extra: list[torch.Tensor] = []
        if encoder_hidden_states is None and st.step is not None:
            key = (self.name, st.step)
            if st.use:
                extra = st.extras(key, hidden_states)
            seen = st.current.get(key) if st.more else None
            mine = hidden_states.detach()
            st.current[key] = mine if seen is None else torch.cat([seen, mine], dim=1)
        if encoder_hidden_states is not None and attn.norm_cross:
            context = attn.norm_encoder_hidden_states(context)

        query = attn.to_q(hidden_states)
        key_t, value = attn.to_k(context), attn.to_v(context)
        if extra and st.step is not None:  # the stored frames' keys and values, projected once
            kvs = [self._keys_values(attn, st.step, i, t) for i, t in enumerate(extra)]
            near = st.window(kvs[0][0].shape[1]) if extra[0] is st.anchor.get(key) else None
            if near is not None:
                near = near.to(kvs[0][0].device)
                kvs[0] = (kvs[0][0][:, near], kvs[0][1][:, near])
            key_t = torch.cat([key_t, *(k for k, _ in kvs)], dim=1)
            value = torch.cat([value, *(v for _, v in kvs)], dim=1)
        if attention_mask is not None:
            attention_mask = attn.prepare_attention_mask(attention_mask, key_t.shape[1], batch)
            attention_mask = attention_mask.view(batch, attn.heads, -1, attention_mask.shape[-1])
        head_dim = key_t.shape[-1] // attn.heads
        query = query.view(batch, -1, attn.heads, head_dim).transpose(1, 2)
        key_t = key_t.view(batch, -1, attn.heads, head_dim).transpose(1, 2)
        value = value.view(batch, -1, attn.heads, head_dim).transpose(1, 2)
        if attn.norm_q is not None:
            query = attn.norm_q(query)
        if attn.norm_k is not None:
            key_t = attn.norm_k(key_t)
        out = F.scaled_dot_product_attention(query, key_t, value, attn_mask=attention_mask)
        out = out.transpose(1, 2).reshape(batch, -1, attn.heads * head_dim).to(query.dtype)
        out = attn.to_out[1](attn.to_out[0](out))
        if input_ndim == 4:
            out = out.transpose(-1, -2).reshape(b, c, h, w)
        if attn.residual_connection:
            out = out + residual
        return out / attn.rescale_output_factor


def install_cross_frame(unet, blocks: tuple[str, ...] = BLOCKS) -> CrossFrameState:
    """Put a ``CrossFrameAttnProcessor`` on every self-attention (``attn1``) layer of ``unet``
    in ``blocks``; other layers keep their processors. Returns the shared state."""
    state = CrossFrameState()
    prefixes = tuple(_PREFIX[b] for b in blocks)
    procs = {}
    for name, proc in unet.attn_processors.items():
        chosen = "attn1" in name and name.startswith(prefixes)
        procs[name] = CrossFrameAttnProcessor(name, state) if chosen else proc
    unet.set_attn_processor(procs)
    return state
