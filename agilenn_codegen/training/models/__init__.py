"""The networks of AgileNN: feature extractor, Local NN, quantizer, Remote NN, combiner and reference NN."""

from agilenn_codegen.training.models.agilenn import AgileNN, AgileOutput
from agilenn_codegen.training.models.combiner import Combiner
from agilenn_codegen.training.models.extractor import FeatureExtractor
from agilenn_codegen.training.models.local_head import LocalHead
from agilenn_codegen.training.models.mapping import ChannelMapping
from agilenn_codegen.training.models.quantizer import SoftHardQuantizer
from agilenn_codegen.training.models.reference import ReferenceBody, ReferenceNet
from agilenn_codegen.training.models.remote import RemoteNet

__all__ = [
    "AgileNN", "AgileOutput", "ChannelMapping", "Combiner", "FeatureExtractor", "LocalHead",
    "ReferenceBody", "ReferenceNet", "RemoteNet", "SoftHardQuantizer",
]  # fmt: skip
