// Everything of cute-mla: the header-only templates (compile with nvcc for
// sm_90a) and the declarations of the prebuilt instantiations and host API.
#pragma once

#include "cute_mla/version.hpp"
#include "cute_mla/status.hpp"
#include "cute_mla/mla_shape.hpp"
#include "cute_mla/sched_meta.hpp"
#include "cute_mla/scheduler.hpp"
#include "cute_mla/arguments.hpp"
#include "cute_mla/check.hpp"
#include "cute_mla/kernel/metadata_kernel.hpp"
#include "cute_mla/kernel/combine_kernel.hpp"
#include "cute_mla/device/device_info.hpp"
#include "cute_mla/device/metadata.hpp"
#include "cute_mla/device/combine.hpp"
#include "cute_mla/device/mla_decode.hpp"
#include "cute_mla/instantiations.hpp"
#include "cute_mla/api.hpp"
