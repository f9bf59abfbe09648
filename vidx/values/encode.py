"""The encoder settings ``--codec``, ``--crf``, ``--preset``, ``--pix-fmt`` and ``--profile``
make, checked as they are given: which codecs vidx writes, their quality scales, speed presets and
editor profiles (ProRes, DNxHR), and the pixel formats each encoder takes (asked of PyAV's FFmpeg,
imported only then). :mod:`vidx.io.writer` encodes with them.
"""

from __future__ import annotations

from dataclasses import dataclass

from vidx.errors import OptionError

CODECS = {
    "h264": "libx264",
    "hevc": "libx265",
    "av1": "libsvtav1",
    "prores": "prores_ks",
    "dnxhr": "dnxhd",
}
DEFAULT_CRF = {"h264": 18, "hevc": 20, "av1": 28}
DEFAULT_PIX_FMT = {
    "h264": "yuv420p",
    "hevc": "yuv420p",
    "av1": "yuv420p",
    "prores": "yuv422p10le",
    "dnxhr": "yuv422p",
}
# editor formats: --profile NAME -> (the encoder's profile, the codec tag or profile name
# ffprobe reports, the pixel formats it takes; the first is the default)
PROFILES: dict[str, dict[str, tuple[str, str, tuple[str, ...]]]] = {
    "prores": {
        "proxy": ("0", "apco", ("yuv422p10le",)),
        "lt": ("1", "apcs", ("yuv422p10le",)),
        "standard": ("2", "apcn", ("yuv422p10le",)),
        "hq": ("3", "apch", ("yuv422p10le",)),
        "4444": ("4", "ap4h", ("yuv444p10le", "yuva444p10le")),
        "4444xq": ("5", "ap4x", ("yuv444p10le", "yuva444p10le")),
    },
    "dnxhr": {
        "lb": ("dnxhr_lb", "DNXHR LB", ("yuv422p",)),
        "sq": ("dnxhr_sq", "DNXHR SQ", ("yuv422p",)),
        "hq": ("dnxhr_hq", "DNXHR HQ", ("yuv422p",)),
        "hqx": ("dnxhr_hqx", "DNXHR HQX", ("yuv422p10le",)),
        "444": ("dnxhr_444", "DNXHR 444", ("yuv444p10le",)),
    },
}
DEFAULT_PROFILE = {"prores": "hq", "dnxhr": "hq"}
X26X_PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
)


@dataclass(frozen=True)
class EncodeSettings:
    """``--codec``, ``--crf``, ``--preset``, ``--pix-fmt``; None takes the codec's default."""

    codec: str = "h264"
    crf: int | None = None
    preset: str | None = None
    pix_fmt: str | None = None
    profile: str | None = None

    def __post_init__(self) -> None:
        if self.codec not in CODECS:
            raise OptionError(
                f"must be one of {', '.join(CODECS)}, got {self.codec!r}", param="codec"
            )
        self._check_profile()
        if self.crf is not None:
            if self.codec in PROFILES:
                raise OptionError(
                    f"does not apply to {self.codec} (it has no quality scale; choose a --profile)",
                    param="crf",
                )
            top = 63 if self.codec == "av1" else 51
            if not 0 <= self.crf <= top:
                raise OptionError(
                    f"for {self.codec} must be 0 to {top}, got {self.crf}", param="crf"
                )
        if self.preset is not None:
            if self.codec in ("h264", "hevc") and self.preset not in X26X_PRESETS:
                raise OptionError(
                    f"for {self.codec} must be one of {', '.join(X26X_PRESETS)}, got "
                    f"{self.preset!r}",
                    param="preset",
                )
            if self.codec == "av1" and not (self.preset.isdigit() and int(self.preset) <= 13):
                raise OptionError(f"for av1 must be 0 to 13, got {self.preset!r}", param="preset")
        if self.pix_fmt is not None:
            usable = encoder_formats(CODECS[self.codec])
            if self.pix_fmt not in usable:
                raise OptionError(
                    f"{self.pix_fmt!r} is not a pixel format {self.encoder} encodes "
                    f"(use one of {', '.join(sorted(usable))})",
                    param="pix_fmt",
                )
            if self.codec in PROFILES and self.pix_fmt not in self.profile_formats:
                raise OptionError(
                    f"for {self.codec} {self.profile_name} must be "
                    f"{' or '.join(self.profile_formats)}, got {self.pix_fmt!r}",
                    param="pix_fmt",
                )

    def _check_profile(self) -> None:
        """``--profile`` names a ProRes or DNxHR profile; for ProRes, ``--preset 0-5`` is the
        old spelling of the profile and still works."""
        profiles = PROFILES.get(self.codec)
        if profiles is None:
            if self.profile is not None:
                raise OptionError(
                    f"is for prores and dnxhr, not {self.codec} (use --preset for the speed)",
                    param="profile",
                )
            return
        names = ", ".join(profiles)
        if self.profile is not None and self.profile not in profiles:
            raise OptionError(
                f"for {self.codec} must be one of {names}, got {self.profile!r}", param="profile"
            )
        if self.preset is None:
            return
        legacy = self.codec == "prores" and self.preset in ("0", "1", "2", "3", "4", "5")
        if not legacy or self.profile is not None:
            raise OptionError(
                f"does not apply to {self.codec} (it has no speed preset); choose the profile "
                f"with --profile {names}",
                param="preset",
            )

    @property
    def profile_name(self) -> str | None:
        """The ProRes/DNxHR profile this writes (``--profile``, ProRes' old ``--preset N``, or
        the default), None for other codecs."""
        profiles = PROFILES.get(self.codec)
        if profiles is None:
            return None
        if self.profile is not None:
            return self.profile
        if self.preset is not None:  # prores' old --preset 0-5
            return list(profiles)[int(self.preset)]
        return DEFAULT_PROFILE[self.codec]

    @property
    def profile_formats(self) -> tuple[str, ...]:
        name = self.profile_name
        return PROFILES[self.codec][name][2] if name is not None else ()

    @property
    def encoder(self) -> str:
        return CODECS[self.codec]

    @property
    def pixel_format(self) -> str:
        if self.pix_fmt is not None:
            return self.pix_fmt
        return self.profile_formats[0] if self.codec in PROFILES else DEFAULT_PIX_FMT[self.codec]

    def options(self) -> dict[str, str]:
        opts: dict[str, str] = {}
        if self.codec in DEFAULT_CRF:
            opts["crf"] = str(self.crf if self.crf is not None else DEFAULT_CRF[self.codec])
        name = self.profile_name
        if name is not None:
            opts["profile"] = PROFILES[self.codec][name][0]
        elif self.preset is not None:
            opts["preset"] = self.preset
        if self.codec == "hevc":
            opts["x265-params"] = "log-level=error"
        return opts

    def to_dict(self) -> dict:
        return {
            "codec": self.codec,
            "encoder": self.encoder,
            "pix_fmt": self.pixel_format,
            "profile": self.profile_name,
            "options": self.options(),
        }


def encoder_formats(encoder: str) -> set[str]:
    """The YUV pixel formats ``encoder`` accepts (vidx writes YUV video only)."""
    import av

    try:
        formats = av.codec.Codec(encoder, "w").video_formats or ()
    except Exception:  # noqa: BLE001 - an encoder missing from this FFmpeg build
        return set()
    return {f.name for f in formats if f.name.startswith("yuv") and not f.name.startswith("yuvj")}
