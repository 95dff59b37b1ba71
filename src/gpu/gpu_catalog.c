/* gpu_catalog.c - common NVIDIA cards with the memory their driver reports.
 * smi_mib is nvidia-smi's total (NVML total); cuda_total_bytes is what
 * cudaMemGetInfo / torch report on Linux with current (R570-R580) drivers:
 * NVML total minus the driver's reserved memory, which has grown with
 * newer drivers. Values seen in public logs or measured here are used
 * where available (docs/CATALOG.md lists the sources); the others are the
 * nvidia-smi total minus the reserve seen on sibling cards. At run time
 * voxfit reads the real figures from NVML instead. */
#include "device.h"

#define MIB(x) ((uint64_t)(x) * 1048576ull)

const struct vf_gpu_spec vf__gpu_specs[] = {
    /* GeForce RTX 30 (Ampere, sm_86, no FP8) */
    {"NVIDIA GeForce RTX 3060", "RTX 3060 12GB|3060", 12288, MIB(11910), 8, 6, 360, 28},
    {"NVIDIA GeForce RTX 3060 8GB", "RTX 3060 8GB", 8192, MIB(7810), 8, 6, 240, 28},
    {"NVIDIA GeForce RTX 3060 Ti", "3060ti", 8192, MIB(7810), 8, 6, 448, 38},
    {"NVIDIA GeForce RTX 3070", NULL, 8192, MIB(7956), 8, 6, 448, 46},
    {"NVIDIA GeForce RTX 3070 Ti", "3070ti", 8192, MIB(7810), 8, 6, 608, 48},
    {"NVIDIA GeForce RTX 3080", "RTX 3080 10GB", 10240, MIB(9860), 8, 6, 760, 68},
    {"NVIDIA GeForce RTX 3080 12GB", NULL, 12288, MIB(11910), 8, 6, 912, 70},
    {"NVIDIA GeForce RTX 3080 Ti", "3080ti", 12288, MIB(11910), 8, 6, 912, 80},
    {"NVIDIA GeForce RTX 3090", NULL, 24576, MIB(24139), 8, 6, 936, 82},
    {"NVIDIA GeForce RTX 3090 Ti", "3090ti", 24564, MIB(24110), 8, 6, 1008, 84},
    /* GeForce RTX 40 (Ada, sm_89, FP8) */
    {"NVIDIA GeForce RTX 4060", NULL, 8188, MIB(7806), 8, 9, 272, 24},
    {"NVIDIA GeForce RTX 4060 Ti", "RTX 4060 Ti 8GB|4060ti", 8188, MIB(7806), 8, 9, 288, 34},
    {"NVIDIA GeForce RTX 4060 Ti 16GB", "4060ti16gb", 16380, MIB(15948), 8, 9, 288, 34},
    {"NVIDIA GeForce RTX 4070", NULL, 12282, MIB(11900), 8, 9, 504, 46},
    {"NVIDIA GeForce RTX 4070 SUPER", "4070super|4070s", 12282, MIB(11900), 8, 9, 504, 56},
    {"NVIDIA GeForce RTX 4070 Ti", "4070ti", 12282, MIB(11900), 8, 9, 504, 60},
    {"NVIDIA GeForce RTX 4070 Ti SUPER", "4070tisuper", 16376, MIB(15944), 8, 9, 672, 66},
    {"NVIDIA GeForce RTX 4080", NULL, 16376, MIB(15944), 8, 9, 717, 76},
    {"NVIDIA GeForce RTX 4080 SUPER", "4080super|4080s", 16376, MIB(15944), 8, 9, 736, 80},
    {"NVIDIA GeForce RTX 4090", NULL, 24564, MIB(24080), 8, 9, 1008, 128},
    /* GeForce RTX 50 (Blackwell, sm_120, FP8) */
    {"NVIDIA GeForce RTX 5060", NULL, 8151, MIB(7688), 12, 0, 448, 30},
    {"NVIDIA GeForce RTX 5060 Ti 8GB", NULL, 8151, MIB(7688), 12, 0, 448, 36},
    {"NVIDIA GeForce RTX 5060 Ti", "RTX 5060 Ti 16GB|5060ti", 16311, MIB(15848), 12, 0, 448, 36},
    {"NVIDIA GeForce RTX 5070", NULL, 12227, MIB(11764), 12, 0, 672, 48},
    {"NVIDIA GeForce RTX 5070 Ti", "5070ti", 16303, MIB(15840), 12, 0, 896, 70},
    {"NVIDIA GeForce RTX 5080", NULL, 16303, MIB(15840), 12, 0, 960, 84},
    {"NVIDIA GeForce RTX 5090", NULL, 32607, MIB(32111), 12, 0, 1792, 170},
    /* workstation */
    {"NVIDIA RTX A4000", "A4000", 16376, MIB(15944), 8, 6, 448, 48},
    {"NVIDIA RTX A5000", "A5000", 24564, MIB(24080), 8, 6, 768, 64},
    {"NVIDIA RTX A6000", "A6000", 49140, MIB(48509), 8, 6, 768, 84},
    {"NVIDIA RTX 6000 Ada Generation", "RTX 6000 Ada|6000ada", 49140, MIB(48509), 8, 9, 960, 142},
    /* data center */
    {"Tesla T4", "T4|NVIDIA T4", 15360, MIB(14913), 7, 5, 320, 40},
    {"NVIDIA A10", "A10", 23028, MIB(22563), 8, 6, 600, 72},
    {"NVIDIA A10G", "A10G", 23028, MIB(22563), 8, 6, 600, 80},
    {"NVIDIA L4", "L4", 23034, MIB(22563), 8, 9, 300, 58},
    {"NVIDIA L40S", "L40S", 46068, MIB(45495), 8, 9, 864, 142},
    {"NVIDIA A100-SXM4-40GB", "A100 40GB|A100-40GB|A100 40|a10040gb|NVIDIA A100-PCIE-40GB", 40960, MIB(40441), 8, 0, 1555, 108},
    {"NVIDIA A100-SXM4-80GB", "A100|A100 80GB|A100-80GB|a10080gb|NVIDIA A100 80GB PCIe", 81920, MIB(81038), 8, 0, 2039, 108},
    {"NVIDIA H100 80GB HBM3", "H100|H100 SXM|H100 80GB|NVIDIA H100", 81559, 85017493504ull, 9, 0, 3350, 132},
    {"NVIDIA H100 PCIe", "H100 PCIe", 81559, MIB(81079), 9, 0, 2000, 114},
    {"NVIDIA H100 NVL", "H100 NVL", 95830, MIB(95230), 9, 0, 3900, 132},
    {"NVIDIA H200", "H200|H200 SXM", 143771, 150109880320ull, 9, 0, 4800, 132},
};
const size_t vf__gpu_specs_n = sizeof vf__gpu_specs / sizeof vf__gpu_specs[0];
