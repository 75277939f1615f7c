print("sample app")
