using System.Runtime.InteropServices;

namespace RdmaDiag.Native;

/// <summary>
/// Whether one rdma-core library can be used here, and if not, why, in words a user can act on.
/// Probed once per process; callers check <see cref="IsAvailable"/> and never see DllNotFoundException.
/// </summary>
public sealed class NativeLibraryStatus
{
    private NativeLibraryStatus(string soName, string debianPackage, bool isAvailable, string? unavailableReason)
    {
        SoName = soName;
        DebianPackage = debianPackage;
        IsAvailable = isAvailable;
        UnavailableReason = unavailableReason;
    }

    public string SoName { get; }

    /// <summary>The Debian package that ships <see cref="SoName"/>.</summary>
    public string DebianPackage { get; }

    public bool IsAvailable { get; }

    /// <summary>Null when available; otherwise what failed and which package to install.</summary>
    public string? UnavailableReason { get; }

    internal static NativeLibraryStatus Available(string soName, string debianPackage) =>
        new(soName, debianPackage, true, null);

    internal static NativeLibraryStatus Unavailable(string soName, string debianPackage, string reason) =>
        new(soName, debianPackage, false, reason);

    /// <summary>Loads <paramref name="soName"/> and checks that <paramref name="requiredExport"/> resolves.</summary>
    internal static NativeLibraryStatus Probe(string soName, string debianPackage, string requiredExport)
    {
        if (!NativeLibrary.TryLoad(soName, out var handle))
        {
            return Unavailable(soName, debianPackage,
                $"{soName} could not be loaded (rdma-core userspace is not installed); install it with: apt-get install {debianPackage}");
        }
        if (!NativeLibrary.TryGetExport(handle, requiredExport, out _))
        {
            return Unavailable(soName, debianPackage,
                $"{soName} loaded but has no export {requiredExport}; it is not rdma-core's library, reinstall {debianPackage}");
        }
        return Available(soName, debianPackage);
    }

    public override string ToString() => IsAvailable ? $"{SoName}: available" : $"{SoName}: {UnavailableReason}";
}

/// <summary>The two rdma-core libraries RdmaDiag binds to, each probed once.</summary>
public static class RdmaCoreLibraries
{
    private static readonly Lazy<NativeLibraryStatus> s_verbs = new(() =>
        NativeLibraryStatus.Probe(Interop.IbVerbs.Library, "libibverbs1", "ibv_get_device_list"));

    private static readonly Lazy<NativeLibraryStatus> s_rdmaCm = new(() =>
        NativeLibraryStatus.Probe(Interop.RdmaCm.Library, "librdmacm1", "rdma_create_event_channel"));

    public static NativeLibraryStatus Verbs => s_verbs.Value;

    public static NativeLibraryStatus RdmaCm => s_rdmaCm.Value;

    internal static void ThrowIfUnavailable(NativeLibraryStatus status)
    {
        if (!status.IsAvailable)
        {
            throw new RdmaUnavailableException(status);
        }
    }
}

/// <summary>An rdma-core library is missing; the message says which and how to install it.</summary>
public sealed class RdmaUnavailableException(NativeLibraryStatus status) : Exception(status.UnavailableReason)
{
    public NativeLibraryStatus Status { get; } = status;
}
