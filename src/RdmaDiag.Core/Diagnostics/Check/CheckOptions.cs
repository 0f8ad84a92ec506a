using System.Globalization;
using RdmaDiag.Diagnostics.Devices;
using RdmaDiag.Endpoint;

namespace RdmaDiag.Diagnostics.Check;

/// <summary>
/// How long each stage of a check may take. The defaults add up to about 30 s on the longest path (a
/// stall followed by the path probe), so a default run ends within 30 s even against a black hole;
/// <see cref="Total"/> caps the run whatever the stages add up to.
/// </summary>
public sealed record CheckTimeouts
{
    public static CheckTimeouts Default { get; } = new();

    public TimeSpan Resolve { get; init; } = TimeSpan.FromSeconds(2);

    public TimeSpan Route { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>The TCP handshake: Linux resends a SYN after 1 and 3 s, so 5 s sees three SYNs.</summary>
    public TimeSpan Connect { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Waiting for the MPA Reply (siw waits 10 s, cxgb4 60 s; a live responder answers in milliseconds).</summary>
    public TimeSpan Mpa { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>One probe operation (a Send, Write or Read of up to 1 MiB and its verification).</summary>
    public TimeSpan Operation { get; init; } = TimeSpan.FromSeconds(4);

    /// <summary>Each step of the second connection that tells a PMTU black hole from a stall.</summary>
    public TimeSpan PathProbe { get; init; } = TimeSpan.FromSeconds(2);

    public TimeSpan Teardown { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>The whole run; no stage starts a wait that would end after it.</summary>
    public TimeSpan Total { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The longest a run can wait if every stage used its full timeout on the longest path.</summary>
    public TimeSpan LongestPath => Resolve + Route + Connect + Mpa + 2 * Operation + 3 * PathProbe + Teardown;

    public CheckTimeouts Scale(double factor) => new()
    {
        Resolve = Resolve * factor,
        Route = Route * factor,
        Connect = Connect * factor,
        Mpa = Mpa * factor,
        Operation = Operation * factor,
        PathProbe = PathProbe * factor,
        Teardown = Teardown * factor,
        Total = Total * factor,
    };

    /// <summary>
    /// Default timeouts scaled by <paramref name="scale"/>, then the per-stage values given (seconds,
    /// not scaled); the total grows to cover the longest path when stage values exceed it.
    /// </summary>
    public static CheckTimeouts FromCommandLine(double? scale, double? connectSeconds, double? mpaSeconds, double? operationSeconds)
    {
        double factor = scale ?? 1;
        if (!(factor is >= 0.05 and <= 100))
        {
            throw new UserInputException($"--timeout-scale {factor.ToString(CultureInfo.InvariantCulture)} is out of range; expected 0.05 to 100 (1 = the default 30 s budget)");
        }
        var timeouts = Default.Scale(factor);
        timeouts = timeouts with
        {
            Connect = Seconds("--connect-timeout", connectSeconds) ?? timeouts.Connect,
            Mpa = Seconds("--mpa-timeout", mpaSeconds) ?? timeouts.Mpa,
            Operation = Seconds("--op-timeout", operationSeconds) ?? timeouts.Operation,
        };
        return timeouts.LongestPath > timeouts.Total ? timeouts with { Total = timeouts.LongestPath } : timeouts;
    }

    private static TimeSpan? Seconds(string option, double? value) => value switch
    {
        null => null,
        > 0 and <= 3600 => TimeSpan.FromSeconds(value.Value),
        _ => throw new UserInputException($"{option} {value.Value.ToString(CultureInfo.InvariantCulture)} is out of range; expected more than 0 and at most 3600 seconds"),
    };
}

/// <summary>What <c>rdmadiag check</c> probes and how.</summary>
/// <summary>The rping pings a check runs: <paramref name="Count"/> of <paramref name="Size"/> octets (rping -C, -S).</summary>
public sealed record RpingCheck(int Count = 1, int Size = Rping.RpingProtocol.DefaultSize)
{
    public void Validate()
    {
        if (Count < 1)
        {
            throw new UserInputException($"--count {Count} must be at least 1");
        }
        if (Size is < Rping.RpingProtocol.MinSize or > Rping.RpingProtocol.MaxSize)
        {
            throw new UserInputException($"--rping-size {Size} is outside rping's {Rping.RpingProtocol.MinSize} to {Rping.RpingProtocol.MaxSize} octets");
        }
    }
}

public sealed record CheckOptions
{
    /// <summary>Message sizes (octets) of the probe operations: 64 B, then growing to 1 MiB.</summary>
    public static IReadOnlyList<int> DefaultSizes { get; } = [64, 4096, 65536, 1 << 20];

    /// <summary>
    /// Sizes up to this many octets go in the rdma-ops stage: with the 64-octet probe header and the
    /// FPDU overhead they fit one TCP segment on any IPv4 path (MTU 576 and up). Larger sizes need
    /// full-size segments and form the large-messages stage.
    /// </summary>
    public const int SmallSizeLimit = 256;

    public required string Host { get; init; }

    public int Port { get; init; } = IwarpSetupOptions.DefaultPort;

    /// <summary>What the userspace endpoint offers during MPA setup (revision, CRC, markers, P2P, IRD/ORD).</summary>
    public IwarpSetupOptions Setup { get; init; } = IwarpSetupOptions.Default;

    /// <summary>ULP private data sent in the MPA Request.</summary>
    public ReadOnlyMemory<byte> PrivateData { get; init; }

    public IReadOnlyList<int> Sizes { get; init; } = DefaultSizes;

    public CheckTimeouts Timeouts { get; init; } = CheckTimeouts.Default;

    /// <summary>Capture the check's own traffic with libpcap (when available and permitted) and decode it.</summary>
    public bool Capture { get; init; } = true;

    /// <summary>Connect through rdma_cm on this host's RDMA device (kernel siw, an RNIC) instead of the userspace endpoint.</summary>
    public bool Verbs { get; init; }

    /// <summary>Speak rping's protocol (to a stock <c>rping -s</c> or <c>serve --rping</c>) instead of the probe protocol.</summary>
    public RpingCheck? Rping { get; init; }

    /// <summary>Where the RDMA devices are read from (the live host, or a fixture tree in tests).</summary>
    public IHostSource DeviceHost { get; init; } = HostSource.Live;

    public IEnumerable<int> SmallSizes => Sizes.Where(s => s <= SmallSizeLimit);

    public IEnumerable<int> LargeSizes => Sizes.Where(s => s > SmallSizeLimit);

    /// <summary>
    /// Parses <c>--sizes</c>: a comma list of octet counts with optional k/m suffixes (binary), each 1 B to
    /// 1 MiB (the probe server's region), returned sorted without repeats.
    /// </summary>
    public static IReadOnlyList<int> ParseSizes(string text)
    {
        var sizes = new SortedSet<int>();
        foreach (string part in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            string digits = part.TrimEnd('k', 'K', 'm', 'M');
            int shift = part.Length == digits.Length ? 0 : char.ToLowerInvariant(part[^1]) == 'k' ? 10 : 20;
            if (part.Length - digits.Length > 1 || !long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out long value)
                || value < 1 || (value << shift) > ProbeServer.DefaultLength)
            {
                throw new UserInputException(
                    $"--sizes '{part}' is not a message size; expected 1 to 1m octets ({ProbeServer.DefaultLength}, the probe region of serve --soft), e.g. 64,4k,64k,1m");
            }
            sizes.Add((int)(value << shift));
        }
        return sizes.Count > 0 ? [.. sizes] : throw new UserInputException($"--sizes '{text}' names no size; expected e.g. 64,4k,64k,1m");
    }

    /// <summary>Parses <c>--private-data</c>: hex octets, optionally separated by spaces, colons or dashes, or prefixed 0x.</summary>
    public static byte[] ParseHex(string text)
    {
        string hex = text.Trim();
        if (hex.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
        {
            hex = hex[2..];
        }
        hex = string.Concat(hex.Where(c => c is not (' ' or ':' or '-')));
        try
        {
            return Convert.FromHexString(hex);
        }
        catch (FormatException)
        {
            throw new UserInputException($"--private-data '{text}' is not hex; expected pairs of hex digits, e.g. f6ab0e18 or f6:ab:0e:18");
        }
    }

    /// <summary>Throws <see cref="UserInputException"/> naming the option when the combination cannot work.</summary>
    public void Validate()
    {
        IwarpSetupOptions.CheckPort(Port);
        Setup.Validate();
        Setup.ValidatePrivateData(PrivateData.Span);
        if (string.IsNullOrWhiteSpace(Host))
        {
            throw new UserInputException("HOST is empty; expected a host name or an IP address of the server");
        }
        Rping?.Validate();
        if (Verbs && Rping is null)
        {
            throw new UserInputException("--verbs needs --rping: over rdma_cm this build speaks rping's protocol only (the probe protocol of serve --soft runs on the userspace endpoint)");
        }
    }
}
