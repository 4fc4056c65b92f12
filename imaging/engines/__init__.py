"""Image engines, one module per kind (diffusers, openai, azure-openai, comfyui), and the
named-engine registry read from the engines file."""
