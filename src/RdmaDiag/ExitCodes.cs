namespace RdmaDiag.Cli;

/// <summary>Process exit codes shared by every verb. Verdict-specific codes (check) start at 10.</summary>
public static class ExitCodes
{
    public const int Ok = 0;
    /// <summary>The command ran and found a failure (a failed self-check, a failed verdict).</summary>
    public const int Failed = 1;
    /// <summary>Bad input: an option, a host, a file. One line on stderr names the input.</summary>
    public const int BadInput = 2;
    /// <summary>The environment lacks something (library, privilege, device) and the message says what.</summary>
    public const int Unavailable = 3;
}
