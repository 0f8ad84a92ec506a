using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace RdmaDiag.Diagnostics.Bundle;

/// <summary>
/// Replaces IPv4, IPv6 and MAC (and longer colon-separated hardware) addresses in text with placeholders
/// that stay the same across every file of one bundle (<c>ipv4-1</c>, <c>ipv6-2</c>, <c>mac-1</c>), so a
/// reader can still follow one address through routes, neighbours and the check. Addresses that identify
/// nothing (0.0.0.0, ::, 255.255.255.255, all-zero and broadcast MACs) stay as they are.
/// </summary>
public sealed partial class AddressRedactor
{
    private readonly Dictionary<string, string> _map = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, int> _counts = [];

    /// <summary>How many distinct addresses of each kind (ipv4, ipv6, mac) were replaced.</summary>
    public IReadOnlyDictionary<string, int> Counts => _counts;

    public string Redact(string text)
    {
        text = Mac().Replace(text, m => IsAnonymousMac(m.Value) ? m.Value : Placeholder("mac", m.Value.ToLowerInvariant()));
        text = Ipv6().Replace(text, m =>
        {
            string candidate = m.Value.TrimEnd('.');
            return IPAddress.TryParse(candidate, out var address) && address.AddressFamily == AddressFamily.InterNetworkV6
                ? (address.Equals(IPAddress.IPv6Any) ? candidate : Placeholder("ipv6", address.ToString())) + m.Value[candidate.Length..]
                : m.Value;
        });
        return Ipv4().Replace(text, m =>
            m.Value.Split('.').All(o => int.Parse(o) <= 255) && m.Value is not ("0.0.0.0" or "255.255.255.255")
                ? Placeholder("ipv4", IPAddress.Parse(m.Value).ToString())
                : m.Value);
    }

    private string Placeholder(string kind, string key)
    {
        string mapKey = kind + "/" + key;
        if (!_map.TryGetValue(mapKey, out string? placeholder))
        {
            int n = _counts.GetValueOrDefault(kind) + 1;
            _counts[kind] = n;
            placeholder = $"{kind}-{n}";
            _map[mapKey] = placeholder;
        }
        return placeholder;
    }

    private static bool IsAnonymousMac(string mac) => mac.Replace(":", "").All(c => c == '0') || mac.Replace(":", "").All(c => c is 'f' or 'F');

    // Six or more octet pairs: Ethernet MACs and the 20-octet InfiniBand/iWARP link addresses of `ip link`.
    [GeneratedRegex(@"(?<![0-9A-Fa-f:])[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5,19}(?![0-9A-Fa-f:])")]
    private static partial Regex Mac();

    // Anything of hex digits, colons and dots with two colons; IPAddress.TryParse then decides.
    [GeneratedRegex(@"(?<![\w:.])(?=[0-9A-Fa-f.]*:[0-9A-Fa-f.]*:)[0-9A-Fa-f:.]{2,45}(?![\w:])")]
    private static partial Regex Ipv6();

    [GeneratedRegex(@"(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?![\w]|\.\d)")]
    private static partial Regex Ipv4();
}
