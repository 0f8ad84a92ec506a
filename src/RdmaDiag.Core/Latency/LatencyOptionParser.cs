using System.Globalization;

namespace RdmaDiag.Latency;

/// <summary>
/// Turns the latency command's option text into <see cref="LatencyRunSettings"/>. Every rejection is a
/// <see cref="UserInputException"/> naming the option, what was seen and what was expected.
/// </summary>
public static class LatencyOptionParser
{
    /// <summary>--sweep stops here even when a mode could go further, like perftest -a (2 B .. 8 MiB).</summary>
    public const int SweepLimit = 8 << 20;

    public static IReadOnlyList<int> ParseSizes(string? size, string? sizes, bool sweep, ILatencyMode mode, LatencyRunSettings settings)
    {
        var given = (size is null ? 0 : 1) + (sizes is null ? 0 : 1) + (sweep ? 1 : 0);
        if (given > 1)
        {
            throw new UserInputException("--size, --sizes and --sweep: give one of them, not several");
        }
        var max = mode.MaxMessageSize(settings);
        if (sweep)
        {
            var list = new List<int>();
            for (long s = 2; s <= Math.Min(max, SweepLimit); s *= 2)
            {
                list.Add((int)s);
            }
            return list;
        }
        if (sizes is not null)
        {
            var parts = sizes.Split(',', StringSplitOptions.TrimEntries);
            if (parts.Length == 0 || parts.Any(p => p.Length == 0))
            {
                throw new UserInputException($"--sizes '{sizes}': expected a comma-separated list of byte counts such as 64,4096");
            }
            return parts.Select(p => ParseSize("--sizes", p, mode.Name, max)).Distinct().ToList();
        }
        return [ParseSize("--size", size ?? "64", mode.Name, max)];
    }

    public static int ParseSize(string option, string text, string modeName, int max)
    {
        var value = ParseInteger(option, text, "a message size in bytes");
        if (value < 1)
        {
            throw new UserInputException($"{option} {text}: a message size is at least 1 byte");
        }
        if (value > max)
        {
            throw new UserInputException($"{option} {text}: above the {modeName} limit of {max} bytes ({LatencySeries.FormatSize(max)})");
        }
        return (int)value;
    }

    public static long ParseCount(string option, string text, long min, long max)
    {
        var value = ParseInteger(option, text, "a whole number");
        if (value < min || value > max)
        {
            throw new UserInputException($"{option} {text}: expected {min} to {max}");
        }
        return value;
    }

    /// <summary>Seconds, fractions allowed: "10", "0.5", "2s".</summary>
    public static TimeSpan ParseDuration(string option, string text)
    {
        var trimmed = text.EndsWith('s') ? text[..^1] : text;
        if (!double.TryParse(trimmed, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) || double.IsNaN(seconds))
        {
            throw new UserInputException($"{option} {text}: expected a number of seconds such as 10 or 0.5");
        }
        if (seconds <= 0 || seconds > 86_400)
        {
            throw new UserInputException($"{option} {text}: expected more than 0 and at most 86400 seconds");
        }
        return TimeSpan.FromSeconds(seconds);
    }

    public static int ParsePort(string text)
    {
        var value = ParseInteger("--port", text, "a TCP/UDP port");
        if (value is < 1 or > 65535)
        {
            throw new UserInputException($"--port {text}: expected 1 to 65535");
        }
        return (int)value;
    }

    public static RxStampTransports ParseTransports(string text) => text.ToLowerInvariant() switch
    {
        "udp" => RxStampTransports.Udp,
        "tcp" => RxStampTransports.Tcp,
        "both" => RxStampTransports.Both,
        _ => throw new UserInputException($"--transport {text}: expected udp, tcp or both"),
    };

    public static TimestampSource ParseTimestamps(string text) => text.ToLowerInvariant() switch
    {
        "auto" => TimestampSource.Auto,
        "sw" or "software" => TimestampSource.Software,
        "hw" or "hardware" => TimestampSource.Hardware,
        _ => throw new UserInputException($"--timestamps {text}: expected auto, sw or hw"),
    };

    private static long ParseInteger(string option, string text, string expected)
    {
        if (!long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value))
        {
            throw new UserInputException($"{option} '{text}': expected {expected}");
        }
        return value;
    }
}
