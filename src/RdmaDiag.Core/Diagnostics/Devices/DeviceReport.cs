namespace RdmaDiag.Diagnostics.Devices;

// The `rdmadiag devices` report. Serialized with snake_case keys (DevicesJson); property names and
// string values are part of the stable JSON contract.

public sealed record DevicesReport(
    HostContext Host,
    KernelReport Kernel,
    LibrariesReport Libraries,
    IReadOnlyList<RdmaDeviceReport> Devices,
    IwpmdReport Iwpmd,
    IReadOnlyList<Problem> Problems);

/// <summary>Where RdmaDiag runs: bare_metal, vm or container (a container may also sit in a VM).</summary>
public sealed record HostContext(
    string Kind,
    bool InContainer,
    string? Container,
    bool InVm,
    string? Hypervisor,
    string Summary,
    IReadOnlyList<string> Evidence);

public sealed record KernelReport(
    string? Release,
    string? ConfigSource,
    IReadOnlyDictionary<string, string> Config,
    IReadOnlyList<string> LoadedModules,
    bool SiwAvailable,
    bool RxeAvailable,
    string? DefaultRouteInterface);

public sealed record LibraryReport(string Soname, string DebianPackage, bool Available, string? Reason);

public sealed record LibrariesReport(
    LibraryReport Libibverbs,
    LibraryReport Librdmacm,
    IReadOnlyList<string> Providers,
    string? DeviceListError);

public sealed record RdmaDeviceReport(
    string Name,
    string Driver,
    string Transport,
    string NodeType,
    string? NodeGuid,
    string? SysImageGuid,
    string? Firmware,
    string? HardwareRevision,
    string? BoardId,
    string? PciAddress,
    IReadOnlyList<PortReport> Ports,
    IReadOnlyList<NetdevReport> Netdevs,
    SriovReport? Sriov,
    DriverSettingsReport? DriverSettings,
    VerbsDetails? Verbs);

public sealed record PortReport(
    int Port,
    string? State,
    string? PhysState,
    string? LinkLayer,
    string? Rate,
    int? ActiveMtu,
    int? MaxMtu,
    IReadOnlyList<GidReport> Gids);

public sealed record GidReport(int Index, string Gid, string? Type, string? Netdev);

public sealed record NetdevReport(string Name, string? Mac, int? Mtu, string? OperState, IReadOnlyList<string> Addresses);

/// <summary>role is "pf" (num_vfs of total_vfs enabled) or "vf" (pf names its physical function).</summary>
public sealed record SriovReport(string Role, int? NumVfs, int? TotalVfs, string? Pf);

/// <summary>The driver knobs that decide interop, where they were read, and what they mean for a peer.</summary>
public sealed record DriverSettingsReport(string Source, IReadOnlyDictionary<string, string> Values, IReadOnlyList<string> Notes);

/// <summary>What libibverbs reports for the device (null fields when it could not be opened).</summary>
public sealed record VerbsDetails(
    string? Error,
    string? TransportType,
    string? Firmware,
    string? VendorId,
    uint? VendorPartId,
    int? MaxQp,
    int? MaxQpWr,
    int? MaxCqe,
    int? MaxMr,
    int? MaxQpRdAtom,
    int? MaxQpInitRdAtom,
    IReadOnlyList<VerbsPortDetails> Ports);

public sealed record VerbsPortDetails(int Port, string State, int ActiveMtu, int MaxMtu, string LinkLayer);

public sealed record IwpmdReport(bool Running, int? Pid, bool Needed, string Note);

/// <summary>A cause found, with the evidence read and the exact commands that fix it.</summary>
public sealed record Problem(string Code, string Message, IReadOnlyList<string> Evidence, IReadOnlyList<string> Fixes);
