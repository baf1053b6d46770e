defmodule CovenantProcessor.JSON do
  @moduledoc "Thin wrapper around jiffy (Debian's erlang-jiffy): nil <-> null, maps."

  @spec decode(binary()) :: {:ok, term()} | {:error, term()}
  def decode(bin) when is_binary(bin) do
    try do
      {:ok, :jiffy.decode(bin, [:return_maps, {:null_term, nil}])}
    catch
      _kind, reason -> {:error, reason}
    end
  end

  def decode(_), do: {:error, :not_binary}

  @doc "Encodes to a binary; invalid UTF-8 is replaced rather than failing."
  @spec encode!(term()) :: binary()
  def encode!(term), do: IO.iodata_to_binary(:jiffy.encode(term, [:use_nil, :force_utf8]))
end
