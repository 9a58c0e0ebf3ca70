// Prebuilt instantiation: the scheduler-metadata kernel (1024 threads).
#include "cute_mla/device/metadata.hpp"

template struct cute_mla::device::MetadataPlanner<1024>;
