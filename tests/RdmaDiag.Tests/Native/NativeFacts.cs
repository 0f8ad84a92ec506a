using RdmaDiag.Native;

namespace RdmaDiag.Tests.Native;

/// <summary>Runs only where gcc and the rdma-core headers are installed (the layout proof needs them).</summary>
public sealed class CHeadersFactAttribute : FactAttribute
{
    public CHeadersFactAttribute()
    {
        Skip = NativeToolchain.MissingReason;
    }
}

/// <summary>Runs only where libibverbs finds at least one RDMA device.</summary>
public sealed class RdmaDeviceFactAttribute : FactAttribute
{
    public RdmaDeviceFactAttribute()
    {
        Skip = RdmaDeviceProbe.MissingReason;
    }
}

/// <summary>Runs only on a host whose kernel has no RDMA userspace interface (the error paths).</summary>
public sealed class NoRdmaKernelFactAttribute : FactAttribute
{
    public NoRdmaKernelFactAttribute()
    {
        if (!RdmaCoreLibraries.Verbs.IsAvailable || !RdmaCoreLibraries.RdmaCm.IsAvailable)
        {
            Skip = "needs libibverbs1 and librdmacm1 (apt-get install libibverbs1 librdmacm1)";
        }
        else if (Directory.Exists("/sys/class/infiniband_verbs") || File.Exists("/dev/infiniband/rdma_cm"))
        {
            Skip = "this kernel has RDMA (/sys/class/infiniband_verbs or /dev/infiniband/rdma_cm exists); the no-RDMA error paths cannot be seen here";
        }
    }
}

internal static class NativeToolchain
{
    public static readonly string[] Headers = ["infiniband/verbs.h", "rdma/rdma_cma.h"];

    public static string? Gcc { get; } = FindOnPath("gcc") ?? FindOnPath("cc");

    public static string? MissingReason { get; } = ComputeMissing();

    private static string? ComputeMissing()
    {
        if (Gcc is null)
        {
            return "needs a C compiler to prove struct layouts: apt-get install gcc";
        }
        if (!File.Exists("/usr/include/infiniband/verbs.h"))
        {
            return "needs /usr/include/infiniband/verbs.h to prove struct layouts: apt-get install libibverbs-dev";
        }
        if (!File.Exists("/usr/include/rdma/rdma_cma.h"))
        {
            return "needs /usr/include/rdma/rdma_cma.h to prove struct layouts: apt-get install librdmacm-dev";
        }
        return null;
    }

    private static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin")
            .Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, name))
            .FirstOrDefault(File.Exists);
}

internal static class RdmaDeviceProbe
{
    public static string? MissingReason { get; } = Compute();

    private static string? Compute()
    {
        const string HowTo = "needs an RDMA device: on a kernel with siw, `rdma link add siw0 type siw netdev <if>`; " +
                             "or run the kernel-siw guest scenarios in tests/vm";
        if (!RdmaCoreLibraries.Verbs.IsAvailable)
        {
            return $"{HowTo} ({RdmaCoreLibraries.Verbs.UnavailableReason})";
        }
        try
        {
            return VerbsDevices.List().Count > 0 ? null : $"{HowTo} (ibv_get_device_list found none)";
        }
        catch (RdmaNativeException e)
        {
            return $"{HowTo} ({e.Message})";
        }
    }
}
