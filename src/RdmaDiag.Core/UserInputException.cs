namespace RdmaDiag;

/// <summary>
/// A mistake in what the user gave us (option, host, file). The CLI prints the message as one line
/// and exits with code 2; no stack trace. The message names the input and says what was expected.
/// </summary>
public sealed class UserInputException(string message) : Exception(message);
