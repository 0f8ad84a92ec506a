using RdmaDiag.Diagnostics.Bundle;

namespace RdmaDiag.Tests.Bundle;

public class AddressRedactorTests
{
    [Fact]
    public void Redact_SameAddressInTwoTexts_SamePlaceholder()
    {
        var redactor = new AddressRedactor();

        string first = redactor.Redact("inet 192.0.2.10/24 brd 192.0.2.255 scope global eth0");
        string second = redactor.Redact("192.0.2.10 dev eth0 lladdr 52:54:00:12:34:56 REACHABLE");

        Assert.Equal("inet ipv4-1/24 brd ipv4-2 scope global eth0", first);
        Assert.Equal("ipv4-1 dev eth0 lladdr mac-1 REACHABLE", second);
        Assert.Equal(2, redactor.Counts["ipv4"]);
    }

    [Theory]
    [InlineData("[::1]:7174 and fe80::5054:ff:fe12:3456%eth0", "[ipv6-1]:7174 and ipv6-2%eth0")]
    [InlineData("peer 127.0.0.1:18515.", "peer ipv4-1:18515.")]
    [InlineData("::ffff:10.1.2.3", "ipv6-1")]
    [InlineData("2001:DB8::1 and 2001:db8::1", "ipv6-1 and ipv6-1")]
    [InlineData("link/infiniband 00:00:01:07:fe:80:00:00:00:00:00:00:00:02:c9:03:00:0a:2b:3c", "link/infiniband mac-1")]
    public void Redact_Addresses_ReplacedByStablePlaceholders(string text, string expected) =>
        Assert.Equal(expected, new AddressRedactor().Redact(text));

    [Theory]
    [InlineData("0.0.0.0:* LISTEN and [::]:*")]
    [InlineData("brd ff:ff:ff:ff:ff:ff link/loopback 00:00:00:00:00:00")]
    [InlineData("at 12:46:18, kernel 6.1.0-18-amd64, version 1.2.3, sha 0a:1b")]
    [InlineData("net.ipv4.tcp_rmem = 4096 131072 6291456; 300.1.2.3")]
    public void Redact_NothingIdentifying_LeftAsIs(string text) =>
        Assert.Equal(text, new AddressRedactor().Redact(text));
}
